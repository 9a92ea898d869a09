"""Template helpers shared by the admin and the public pages: status badges and times in several zones.

Times: Pacific (`OPS_MAINTENANCE_TZ`, the zone of the maintenance policy and the announcements), UTC
(storage, logs) and the operator's own zone (reported by the browser in a cookie, activated by
`OperatorTimezoneMiddleware`) whenever it is neither of those.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html

from ersen_ops.core.wording import (  # noqa: F401 (re-exported: callers import the formatters from here too)
    duration,
    in_local,
    in_pacific,
    in_utc,
    local_and_pacific_text,
    operator_zone_differs,
    pacific,
)

register = template.Library()

DEFAULT_COLOUR = "#616161"


@register.simple_tag
def badge(label: str, colour: str | None = None, value: str = ""):
    """A status badge: colour plus text, so it reads without colour too (and in a screen reader)."""
    return format_html(
        '<span class="badge badge-{}" style="background:{};color:#fff;padding:1px 6px;border-radius:8px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        value or str(label).lower().replace(" ", "-"),
        colour or DEFAULT_COLOUR,
        label,
    )


# The date formatters live in the wording module; these are their template names.
register.filter("in_pacific", in_pacific)
register.filter("in_utc", in_utc)
register.filter("in_local", in_local)


@register.filter
def local_and_pacific(dt):
    """Compact, for tables: 'Fri 11:42 CET · 02:42 PST' (one time when the operator is on Pacific time).

    The date is shown when it is not today in that zone; the full UTC time is in the tooltip."""
    if dt is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', dt.isoformat(), in_utc(dt), local_and_pacific_text(dt)
    )


# Time left → colour class, for every countdown to a due time. The first step whose limit (seconds) the time
# left is under wins; the browser re-applies the same steps as the countdown ticks (data-urgency, live.js).
URGENCY_STEPS = ((0, "breached"), (60 * 60, "due-within-hour"), (24 * 60 * 60, "due-within-day"))
URGENCY_LATER = "due-later"


def urgency_class(time_left: timedelta) -> str:
    """'breached' (past due), 'due-within-hour', 'due-within-day' or 'due-later'."""
    seconds = time_left.total_seconds()
    return next((css for limit, css in URGENCY_STEPS if seconds < limit), URGENCY_LATER)


_URGENCY_JSON = json.dumps([*URGENCY_STEPS, (None, URGENCY_LATER)], separators=(",", ":"))


@register.simple_tag
def countdown(due: datetime, text: str, *, prefix: str = "due in ", title: str = "", now: datetime | None = None):
    """A countdown to `due` that ticks in the browser, coloured by the time left (`urgency_class`)."""
    css = urgency_class(due - (now or timezone.now()))
    return format_html(
        '<span class="ops-countdown {}" data-due="{}" data-prefix="{}" data-urgency="{}" title="{}">{}</span>',
        css,
        due.isoformat(),
        prefix,
        _URGENCY_JSON,
        title,
        text,
    )


@register.simple_tag
def admin_change_url(content_type, object_id) -> str:
    """The admin page of (content type, id), or "" (e.g. an approval's evidence)."""
    from django.urls import NoReverseMatch, reverse

    if content_type is None or not object_id:
        return ""
    try:
        return reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[object_id])
    except NoReverseMatch:
        return ""


@register.filter
def relative(dt, now: datetime | None = None):
    """'in 3 h 10 min', '12 min ago', 'now'."""
    if dt is None:
        return ""
    now = now or timezone.now()
    delta = dt - now
    text = duration(abs(delta))
    if abs(delta) < timedelta(seconds=30):
        return "now"
    return f"in {text}" if delta > timedelta(0) else f"{text} ago"


# The one duration formatter (ersen_ops.core.wording): '45 s', '12 min', '3 h 5 min', '2 d 4 h'.
register.filter("duration", duration)


@register.simple_tag(takes_context=True)
def person(context, user, empty: str = "—"):
    """A person's name linked to what the viewer may see about them (their windows, incidents), or plain text."""
    from ersen_ops.core.people import person_link

    request = context.get("request")
    return person_link(user, getattr(request, "user", None), empty=empty)
