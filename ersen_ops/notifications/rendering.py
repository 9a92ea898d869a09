"""Rendering a notification's text for each channel from Django templates.

Templates live in `templates/notifications/<event or template>/<file>`, with
`templates/notifications/default/<file>` as the fallback. For each channel the
first existing file wins, most specific first:

    status page  status_page.md  → markdown.md      (Markdown)
    Discord      discord.md      → markdown.md      (Markdown)
    Slack        slack.txt / slack_team_ops.txt → mrkdwn.txt   (Slack mrkdwn)
    Pager        pager.txt       → summary.txt      (one line: payload.summary)
    Email        email.txt       → text.txt         (plain text)
                 email.html      → html.html        (HTML alternative)

Text formats are rendered with autoescaping off (they are not HTML); HTML with it on.
Rendering happens in notify(), so the delivery records exactly the text that was sent,
and a retry an hour later sends the same words even if the window was edited since.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.template import TemplateDoesNotExist, engines
from django.template.backends.django import DjangoTemplates

from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.masking import LOGGER_NAME, mask

logger = logging.getLogger(LOGGER_NAME)

DEFAULT_SET = "default"
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")

# channel → {delivery field: candidate file names, most specific first}
CHANNEL_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    Channel.STATUS_PAGE: {"message": ("status_page.md", "markdown.md")},
    Channel.DISCORD: {"message": ("discord.md", "markdown.md")},
    Channel.SLACK: {"message": ("slack.txt", "mrkdwn.txt")},
    Channel.SLACK_TEAM_OPS: {"message": ("slack_team_ops.txt", "mrkdwn.txt")},
    Channel.PAGER: {"message": ("pager.txt", "summary.txt")},
    Channel.EMAIL: {"message": ("email.txt", "text.txt"), "message_html": ("email.html", "html.html")},
}


@dataclass
class Rendered:
    message: str
    message_html: str
    template_names: str


@functools.cache
def _text_engine() -> DjangoTemplates:
    """The project's template directories, without HTML autoescaping (for Markdown, mrkdwn and plain text)."""
    base = settings.TEMPLATES[0]
    return DjangoTemplates(
        {
            "NAME": "notifications_text",
            "DIRS": list(base.get("DIRS", [])),
            "APP_DIRS": base.get("APP_DIRS", False),
            "OPTIONS": {"autoescape": False},
        }
    )


def _candidates(template_set: str, files: tuple[str, ...]) -> list[str]:
    sets = [template_set] if template_set and _SAFE_NAME.match(template_set) and template_set != DEFAULT_SET else []
    return [f"notifications/{s}/{f}" for s in [*sets, DEFAULT_SET] for f in files]


def _select(engine, names: list[str]):
    for name in names:
        try:
            return engine.get_template(name), name
        except TemplateDoesNotExist:
            continue
    raise TemplateDoesNotExist(", ".join(names))


def _render_one(field: str, names: list[str], context: dict) -> tuple[str, str]:
    engine = engines["django"] if field == "message_html" else _text_engine()
    try:
        template, name = _select(engine, names)
        return template.render(context).strip() + "\n", name
    except Exception as exc:
        # A broken event template must not break the caller's transaction: fall back to the default set.
        defaults = [n for n in names if n.startswith(f"notifications/{DEFAULT_SET}/")]
        if defaults == names:
            raise
        logger.warning("notification template %s failed (%s); using the default template", names[0], mask(exc))
        template, name = _select(engine, defaults)
        return template.render(context).strip() + "\n", name


def render_for_channel(*, channel: str, template_set: str, context: dict) -> Rendered:
    rendered = {"message": "", "message_html": ""}
    used = []
    for field, files in CHANNEL_TEMPLATES[channel].items():
        text, name = _render_one(field, _candidates(template_set, files), context)
        rendered[field] = text
        used.append(name)
    return Rendered(message=rendered["message"], message_html=rendered["message_html"], template_names=", ".join(used))


def base_context(
    *, event: str, channel: str, subject: str, body: str, related, severity: str, pager_action: str
) -> dict:
    return {
        "event": event,
        "channel": channel,
        "channel_label": Channel(channel).label,
        "subject": subject,
        "body": body,
        "related": related,
        "severity": severity,
        "pager_action": pager_action,
        "status_page_name": settings.OPS_STATUS_PAGE_NAME,
        "status_page_url": settings.OPS_STATUS_PAGE_URL,
    }
