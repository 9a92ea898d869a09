"""Template helpers shared by the admin and the public pages: status badges and dual-zone times."""

from __future__ import annotations

import zoneinfo

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

DEFAULT_COLOUR = "#616161"


@register.simple_tag
def badge(label: str, colour: str | None = None, value: str = ""):
    """A status badge: colour plus text, so it reads without colour too."""
    return format_html(
        '<span class="badge badge-{}" style="background:{};color:#fff;padding:1px 6px;border-radius:8px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        value or str(label).lower().replace(" ", "-"),
        colour or DEFAULT_COLOUR,
        label,
    )


def pacific(dt):
    if dt is None:
        return None
    return timezone.localtime(dt, zoneinfo.ZoneInfo(settings.OPS_MAINTENANCE_TZ))


@register.filter
def in_pacific(dt, fmt: str = "D Y-m-d H:i T"):
    """A datetime in the maintenance zone (America/Los_Angeles), e.g. 'Tue 2026-12-01 02:00 PST'."""
    from django.utils.dateformat import format as dformat

    local = pacific(dt)
    return dformat(local, fmt) if local else "—"


@register.filter
def in_utc(dt, fmt: str = "Y-m-d H:i \\U\\T\\C"):
    from django.utils.dateformat import format as dformat

    return dformat(timezone.localtime(dt, zoneinfo.ZoneInfo("UTC")), fmt) if dt else "—"
