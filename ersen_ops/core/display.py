"""Python-side twins of the template helpers, for admin list columns and read-only fields."""

from __future__ import annotations

from datetime import UTC

from django.utils.html import format_html

from ersen_ops.core.templatetags.ops import (  # noqa: F401
    badge,
    countdown,
    duration,
    in_local,
    in_pacific,
    in_utc,
    local_and_pacific,
    local_and_pacific_text,
    operator_zone_differs,
    relative,
    urgency_class,
)


def status_badge(value: str, label: str, colours: dict) -> str:
    return badge(label, colours.get(value), value)


def both_zones(dt) -> str:
    """'Tue 2026-12-01 02:00 PST' over '2026-12-01 10:00 UTC', plus the operator's own time when it differs
    ('· 11:00 CET', its weekday too when the date differs from UTC's)."""
    if dt is None:
        return "—"
    if operator_zone_differs():
        from django.utils import timezone

        same_day = timezone.localtime(dt).date() == timezone.localtime(dt, UTC).date()
        return format_html(
            '{}<br><small>{} · <span title="your time zone">{}</span></small>',
            in_pacific(dt),
            in_utc(dt),
            in_local(dt, "H:i T" if same_day else "D H:i T"),
        )
    return format_html("{}<br><small>{}</small>", in_pacific(dt), in_utc(dt))
