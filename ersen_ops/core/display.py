"""Python-side twins of the template helpers, for admin list columns."""

from __future__ import annotations

from django.utils.html import format_html

from ersen_ops.core.templatetags.ops import badge, in_pacific, in_utc  # noqa: F401


def status_badge(value: str, label: str, colours: dict) -> str:
    return badge(label, colours.get(value), value)


def both_zones(dt) -> str:
    """'Tue 2026-12-01 02:00 PST' over '2026-12-01 10:00 UTC'."""
    if dt is None:
        return "—"
    return format_html("{}<br><small>{}</small>", in_pacific(dt), in_utc(dt))
