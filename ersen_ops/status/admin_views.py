"""Admin pages of the status app beyond the model admin: the monthly uptime report ("monthly SLA %") and its CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.exports import csv_cell
from ersen_ops.core.wording import duration
from ersen_ops.status.choices import COMPONENT_STATUS_COLOURS, ComponentStatus
from ersen_ops.status.uptime import policy
from ersen_ops.status.uptime.selectors import month_report
from ersen_ops.status.uptime.services import page_zone

PERM_VIEW = "status.view_component"
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CSV_COLUMNS = [
    "month",
    "component",
    "public",
    "uptime_percent",
    "operational_seconds",
    "degraded_seconds",
    "partial_outage_seconds",
    "major_outage_seconds",
    "maintenance_seconds",
    "no_data_seconds",
    "worst_status",
    "days_with_data",
]


def _month_of(request, today: date) -> tuple[int, int, str | None]:
    """(year, month, problem): ?month=YYYY-MM, this month by default; a bad value names the rule."""
    raw = (request.GET.get("month") or "").strip()
    if not raw:
        return today.year, today.month, None
    match = MONTH.match(raw)
    if match:
        year, month = int(match[1]), int(match[2])
        if 1 <= month <= 12 and 2000 <= year and date(year, month, 1) <= today:
            return year, month, None
    return (
        today.year,
        today.month,
        f"“{raw}” is not a month up to this one (write YYYY-MM, e.g. {today:%Y-%m}); showing {today:%Y-%m}.",
    )


def _shift(year: int, month: int, by: int) -> str:
    index = year * 12 + (month - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def uptime_report_view(model_admin):
    def view(request):
        if not request.user.has_perm(PERM_VIEW):
            raise PermissionDenied("Your role does not allow viewing components.")
        now = timezone.now()
        today = policy.day_of(now, page_zone())
        year, month, problem = _month_of(request, today)
        report = month_report(year, month, now=now)
        label = f"{year:04d}-{month:02d}"
        if request.GET.get("format") == "csv":
            return _csv(request, report, label)
        if problem:
            messages.warning(request, problem)
        rows = [
            {
                "row": r,
                "uptime": policy.format_percent(r.uptime),
                "major": duration(r.seconds["major"]) if r.seconds["major"] else "—",
                "partial": duration(r.seconds["partial"]) if r.seconds["partial"] else "—",
                "degraded": duration(r.seconds["degraded"]) if r.seconds["degraded"] else "—",
                "maintenance": duration(r.seconds["maintenance"]) if r.seconds["maintenance"] else "—",
                "unknown": duration(r.seconds["unknown"]) if r.seconds["unknown"] else "—",
                "worst": ComponentStatus(r.worst_status).label if r.worst_status else "—",
                "worst_colour": COMPONENT_STATUS_COLOURS.get(r.worst_status, "#777"),
            }
            for r in report.rows
        ]
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": f"Uptime per component, {date(year, month, 1):%B %Y}",
            "report": report,
            "rows": rows,
            "month": label,
            "previous": _shift(year, month, -1),
            "next": _shift(year, month, 1) if date(year, month, 1) < date(today.year, today.month, 1) else None,
            "zone": page_zone().key,
            "now": now,
        }
        return TemplateResponse(request, "admin/status/component/uptime_report.html", context)

    return view


def _csv(request, report, label: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        writer.writerow(
            [
                csv_cell(v)
                for v in (
                    label,
                    r.name,
                    "yes" if r.public else "no",
                    "" if r.uptime is None else f"{r.uptime:.4f}",
                    r.seconds["operational"],
                    r.seconds["degraded"],
                    r.seconds["partial"],
                    r.seconds["major"],
                    r.seconds["maintenance"],
                    r.seconds["unknown"],
                    r.worst_status,
                    r.days_with_data,
                )
            ]
        )
    record(
        actor=request.user,
        action="status.uptime.exported",
        data={"month": label, "components": len(report.rows), "complete": report.complete},
        request=request,
    )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="uptime-{label}.csv"'
    return response
