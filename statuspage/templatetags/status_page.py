"""Helpers of the public status page: times for every viewer, status words. (Update text: core.markup.)"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.html import format_html

from ersen_ops.core.templatetags.ops import in_pacific, in_utc
from statuspage.serializers import iso

register = template.Library()

STATUS_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
    "none": "All Systems Operational",
    "minor": "Minor",
    "major": "Major",
    "critical": "Critical",
    "maintenance": "Maintenance",
}
# A symbol per state, so the status reads without colour (and without the words, at a glance).
STATUS_SYMBOLS = {
    "operational": "✓",
    "degraded_performance": "▲",
    "partial_outage": "◆",
    "major_outage": "✕",
    "under_maintenance": "⚙",
}


@register.filter
def status_word(value: str) -> str:
    return STATUS_WORDS.get(value, str(value).replace("_", " ").capitalize())


@register.filter
def status_symbol(value: str) -> str:
    return STATUS_SYMBOLS.get(value, "•")


@register.simple_tag
def moment(dt, fmt: str = "D j M Y, H:i"):
    """<time> in UTC (rewritten to the viewer's zone by local-times.js), with Pacific beside (which the script
    hides when it reads the same as the viewer's time)."""
    if dt is None:
        return "—"
    return format_html(
        '<time datetime="{}" data-local>{}</time> <span class="pacific" data-zone="{}">({})</span>',
        iso(dt),
        in_utc(dt, f"{fmt} \\U\\T\\C"),
        settings.OPS_MAINTENANCE_TZ,
        in_pacific(dt, "D H:i T"),
    )
