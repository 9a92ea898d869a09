"""The incident report page: MTTA, MTTR and SLA attainment per level, last 30 and 90 days.

A table and a server-rendered SVG bar chart (no JavaScript). Needs a login and the permission to
view incidents.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from incidents import policy, selectors
from incidents.choices import LEVEL_COLOURS, Level

PERIODS = (30, 90)
BAR_MAX_WIDTH = 200  # px of the longest bar in each chart


def _seconds(delta: timedelta | None) -> float | None:
    return delta.total_seconds() if delta is not None else None


def _duration_label(seconds: float | None) -> str:
    return policy.format_duration(timedelta(seconds=seconds)) if seconds is not None else "—"


def _percent_label(value: float | None) -> str:
    return "—" if value is None else f"{value:g} %"


def _bars(values: dict[str, float | None], fmt, *, top: float | None = None) -> list[dict]:
    """One horizontal bar per level, the longest (or `top`) BAR_MAX_WIDTH px wide."""
    top = top or max((v for v in values.values() if v), default=0) or 1
    return [
        {
            "level": level,
            "colour": LEVEL_COLOURS[level],
            "width": round(BAR_MAX_WIDTH * (value or 0) / top),
            "label": fmt(value),
            "y": 8 + index * 26,
        }
        for index, (level, value) in enumerate(values.items())
    ]


def report_context(*, now) -> dict:
    report = selectors.response_report(now=now, periods=PERIODS)
    periods = []
    for days in PERIODS:
        stats = report[days]
        rows = [
            {
                "stats": s,
                "policy": policy.LEVELS[level],
                "colour": LEVEL_COLOURS[level],
                "mtta": policy.format_duration(s.mtta),
                "mttr": policy.format_duration(s.mttr),
                "attainment": "—" if s.sla_attainment is None else f"{s.sla_attainment:g} %",
            }
            for level, s in stats.items()
        ]

        charts = [
            ("Mean time to acknowledge", _bars({lv: _seconds(s.mtta) for lv, s in stats.items()}, _duration_label)),
            ("Mean time to resolve", _bars({lv: _seconds(s.mttr) for lv, s in stats.items()}, _duration_label)),
            # Attainment is a share: bars are scaled to 100 %, not to the best level.
            ("SLA attainment", _bars({lv: s.sla_attainment for lv, s in stats.items()}, _percent_label, top=100)),
        ]
        periods.append({"days": days, "rows": rows, "charts": charts})
    return {"periods": periods, "levels": Level.values, "chart_height": 8 + len(Level.values) * 26, "bar_max": BAR_MAX_WIDTH}


def report_view(model_admin):
    def view(request):
        if not request.user.has_perm("incidents.view_incident"):
            raise PermissionDenied("Your role does not allow viewing incidents.")
        now = timezone.now()
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": "Incident response: MTTA, MTTR and SLA attainment",
            "now": now,
            **report_context(now=now),
        }
        return TemplateResponse(request, "admin/incidents/incident/report.html", context)

    return view
