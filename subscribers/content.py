"""What a notice says: the Statuspage webhook body, the email text and the `.ics` attachment.

Built once per notice from the status app's own public objects (its selectors and serializers: the
webhook `incident` is exactly what `/api/v2/incidents.json` shows, the `component` exactly what
`/api/v2/components.json` shows) and the calendar's UID/SEQUENCE, so a subscriber never reads
anything the public page does not show.

Per-recipient parts (the signed links) are placeholders in the rendered text, replaced per
recipient at fan-out time: one template render per notice, not one per subscriber.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string

from ersen_ops.core.validators import one_line
from ersen_ops.status.models import CalendarSequence
from statuspage import ical, selectors, serializers
from statuspage.snapshot import calendar_fields
from subscribers import tokens

MANAGE_PLACEHOLDER = "__ERSEN_MANAGE_URL__"
UNSUBSCRIBE_PLACEHOLDER = "__ERSEN_UNSUBSCRIBE_URL__"
CONFIRM_PLACEHOLDER = "__ERSEN_CONFIRM_URL__"
DOCUMENTATION_PATH = "/subscribe#webhooks"
EMAIL_TEMPLATES = {
    "notice": ("subscribers/email/notice.txt", "subscribers/email/notice.html"),
    "confirmation": ("subscribers/email/confirmation.txt", "subscribers/email/confirmation.html"),
    "already_subscribed": ("subscribers/email/already_subscribed.txt", "subscribers/email/already_subscribed.html"),
}


# --- the Statuspage webhook body ---------------------------------------------------------------------------


def page_status(*, now: datetime) -> dict:
    """Statuspage webhook `page`: the page's id and its rollup at the moment of the notice."""
    snapshot = selectors.summary_snapshot(fallback_updated_at=now)
    return {
        "id": settings.OPS_STATUS_PAGE_ID,
        "status_indicator": snapshot.indicator,
        "status_description": snapshot.description,
    }


def public_event(public_id: str) -> dict | None:
    """The incident / scheduled maintenance object of the public API (None if it is not public)."""
    event, _ = selectors.event_by_public_id(public_id)
    return serializers.incident(event) if event is not None else None


def component_update(*, update_id: str, component_id: str, old_status: str, new_status: str, at: datetime) -> dict:
    return {
        "created_at": serializers.iso(at),
        "new_status": new_status,
        "old_status": old_status,
        "id": update_id,
        "component_id": component_id,
    }


def payload_text(payload: dict) -> str:
    """A notice's webhook body (without `meta`) as stored: JSON text, in the order given."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def webhook_body(payload: str | dict, webhook) -> str:
    """The exact bytes (as text) POSTed to one webhook: `meta` first, as Statuspage sends it.

    Stored on the delivery, so a retry sends the same body and the same signature.
    """
    if isinstance(payload, str):
        payload = json.loads(payload)  # dicts keep the text's key order
    document = {
        "meta": {
            "unsubscribe": tokens.webhook_unsubscribe_url(webhook),
            "documentation": tokens.public_url(DOCUMENTATION_PATH),
        },
        **payload,
    }
    return payload_text(document)


# --- the calendar attachment ------------------------------------------------------------------------------


def window_ics(window) -> tuple[str, int] | None:
    """The window as a one-event calendar: the same UID, SEQUENCE, DTSTAMP and fields as `/maintenance.ics`."""
    fields = calendar_fields(window)
    if fields is None:
        return None
    sequence = CalendarSequence.objects.filter(window_public_id=window.public_id).first()
    cal = ical.new_calendar()
    cal.add_component(ical.window_event(window, fields, sequence))
    return cal.to_ical().decode(), sequence.sequence if sequence is not None else 0


# --- email ------------------------------------------------------------------------------------------------


def email_context(**extra) -> dict:
    return {
        "page_name": settings.OPS_STATUS_PAGE_NAME,
        "page_url": settings.OPS_STATUS_PAGE_URL.rstrip("/"),
        "manage_url": MANAGE_PLACEHOLDER,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "confirm_url": CONFIRM_PLACEHOLDER,
        **extra,
    }


def render_email(kind: str, context: dict) -> tuple[str, str]:
    """(plain text, HTML) of an email, links still as placeholders."""
    text_name, html_name = EMAIL_TEMPLATES[kind]
    ctx = email_context(**context)
    return render_to_string(text_name, ctx).strip() + "\n", render_to_string(html_name, ctx).strip() + "\n"


def personalise(text: str, subscriber) -> str:
    """The rendered text with this subscriber's signed links in place of the placeholders."""
    if MANAGE_PLACEHOLDER in text or UNSUBSCRIBE_PLACEHOLDER in text:
        manage = tokens.manage_token(subscriber)
        text = text.replace(MANAGE_PLACEHOLDER, tokens.public_url(f"/subscriptions/manage/{manage}"))
        text = text.replace(UNSUBSCRIBE_PLACEHOLDER, tokens.public_url(f"/subscriptions/unsubscribe/{manage}"))
    if CONFIRM_PLACEHOLDER in text:
        text = text.replace(CONFIRM_PLACEHOLDER, tokens.confirm_url(subscriber))
    return text


def email_subject(subject: str) -> str:
    return one_line(f"[{settings.OPS_STATUS_PAGE_NAME} status] {subject}")[:300]
