"""The public uptime history: per public component, 90 day-bars and the uptime over 30 and 90 days.

Built from `ersen_ops.status.uptime` (rollups + today's intervals: 2 queries) and the public incidents
that touched each component on each day (1 query) — a constant number of queries however long the
history and however many components. Rendered by the page (`status/_uptime.html`) and `/api/uptime.json`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import DateTimeField, Q, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils.dateformat import format as dformat

from ersen_ops.core.wording import duration
from ersen_ops.status.snapshot import PublicComponent
from ersen_ops.status.uptime import policy
from ersen_ops.status.uptime.selectors import period_uptime, uptime_days
from ersen_ops.status.uptime.services import page_zone
from incidents.models import IncidentComponent
from statuspage.selectors import public_incidents

INCIDENT_LIMIT = 2000  # incident × component rows read for the bars at most (newest kept)
STATUS_WORDS = {
    policy.OPERATIONAL: "operational",
    policy.DEGRADED: "degraded performance",
    policy.PARTIAL: "partial outage",
    policy.MAJOR: "major outage",
    policy.UNDER_MAINTENANCE: "under maintenance",
}


@dataclass(frozen=True)
class DayIncident:
    id: str
    name: str


@dataclass
class UptimeBar:
    day: date
    status: str  # the day's worst public status; "" = no data
    uptime: float | None
    seconds: dict[str, int]
    incidents: list[DayIncident] = field(default_factory=list)
    today: bool = False

    @property
    def css(self) -> str:
        return self.status or "nodata"

    @property
    def uptime_text(self) -> str:
        return policy.format_percent(self.uptime)

    @property
    def label(self) -> str:
        """What the bar says in words (its tooltip, and what a screen reader reads)."""
        when = dformat(self.day, "D j M Y") + (" (today, so far)" if self.today else "")
        if not self.status:
            return f"{when}: no data."
        # No second counted yet (a status that began just now, or maintenance all day): say the status.
        parts = [
            f"{when}: {self.uptime_text} uptime" if self.uptime is not None else f"{when}: {STATUS_WORDS[self.status]}"
        ]
        spent = [
            f"{STATUS_WORDS[policy.STATUS_OF_BUCKET[b]]} {duration(self.seconds[b])}"
            for b in ("major", "partial", "degraded")
            if self.seconds.get(b)
        ]
        if self.seconds.get("maintenance"):
            spent.append(f"maintenance {duration(self.seconds['maintenance'])}")
        text = parts[0] + (" — " + ", ".join(spent) if spent else "") + "."
        if self.incidents:
            text += " Incidents: " + "; ".join(i.name for i in self.incidents) + "."
        elif self.status not in ("", policy.OPERATIONAL):
            text += " No incident reported."
        return text


@dataclass
class ComponentUptime:
    component: PublicComponent
    bars: list[UptimeBar]
    uptime_30: float | None
    uptime_90: float | None

    @property
    def notable(self) -> list[UptimeBar]:
        """Days worth a line of their own (newest first): anything but a plain operational day."""
        return [
            b
            for b in reversed(self.bars)
            if b.incidents or any(b.seconds.get(k) for k in ("major", "partial", "degraded", "maintenance"))
        ]

    @property
    def uptime_30_text(self) -> str:
        return policy.format_percent(self.uptime_30)

    @property
    def uptime_90_text(self) -> str:
        return policy.format_percent(self.uptime_90)


def _incidents_by_day(component_ids, days: list[date], *, now: datetime) -> dict[int, dict[date, list[DayIncident]]]:
    """component pk → day → public incidents that were open on it that day (1 query; the days of opening and
    resolution are computed by PostgreSQL in the page's zone, so Python handles dates, not datetimes)."""
    zone = page_zone()
    start, _ = policy.day_bounds(days[0], zone)
    rows = (
        IncidentComponent.objects.filter(component_id__in=component_ids, incident__in=public_incidents())
        .filter(incident__opened_at__lt=now)
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=start))
        .annotate(
            first_day=TruncDate("incident__opened_at", tzinfo=zone),
            last_day=TruncDate(
                Coalesce("incident__resolved_at", Value(now, output_field=DateTimeField())), tzinfo=zone
            ),
        )
        .order_by("-incident__opened_at", "-incident_id")
        .values_list("component_id", "incident__public_id", "incident__title", "first_day", "last_day")[:INCIDENT_LIMIT]
    )
    result: dict[int, dict[date, list[DayIncident]]] = defaultdict(lambda: defaultdict(list))
    first_ordinal, last_ordinal = days[0].toordinal(), days[-1].toordinal()
    for cid, public_id, title, first, last in reversed(list(rows)):
        incident = DayIncident(public_id, title)
        per_day = result[cid]
        for ordinal in range(max(first.toordinal(), first_ordinal), min(last.toordinal(), last_ordinal) + 1):
            per_day[date.fromordinal(ordinal)].append(incident)
    return result


def uptime_history(
    components: list[PublicComponent], *, now: datetime, count: int = policy.HISTORY_DAYS
) -> list[ComponentUptime]:
    """The public leaf components (in page order) with their last `count` days, oldest first (3 queries)."""
    leaves = [c for c in components if not c.group]
    if not leaves:
        return []
    today = policy.day_of(now, page_zone())
    days = policy.days_back(today, count)
    ids = [c.pk for c in leaves]
    figures = uptime_days(ids, days, now=now)
    incidents = _incidents_by_day(ids, days, now=now)
    short = days[-policy.SHORT_DAYS :]
    result = []
    for c in leaves:
        per_day = figures.get(c.pk, {})
        bars = []
        for day in days:
            fig = per_day.get(day)
            bars.append(
                UptimeBar(
                    day=day,
                    status=fig.worst_status if fig else "",
                    uptime=fig.uptime if fig else None,
                    seconds=fig.seconds if fig else dict.fromkeys(policy.BUCKETS, 0),
                    incidents=incidents.get(c.pk, {}).get(day, []),
                    today=day == today,
                )
            )
        result.append(
            ComponentUptime(
                component=c,
                bars=bars,
                uptime_30=period_uptime(per_day, short)[0],
                uptime_90=period_uptime(per_day, days)[0],
            )
        )
    return result


def uptime_document(history: list[ComponentUptime], *, now: datetime, page: dict) -> dict:
    """`/api/uptime.json` (our own format, not Statuspage's): the same figures as the page."""
    from statuspage.serializers import iso
    from statuspage.snapshot import shortlink

    def pct(value):
        return None if value is None else round(value, 4)

    return {
        "page": page,
        "time_zone": page_zone().key,
        "generated_at": iso(now),
        "days": policy.HISTORY_DAYS,
        "weighting": {
            "major_outage": policy.DOWNTIME_WEIGHT[policy.MAJOR],
            "partial_outage": policy.DOWNTIME_WEIGHT[policy.PARTIAL],
            "degraded_performance": policy.DOWNTIME_WEIGHT[policy.DEGRADED],
            "under_maintenance": "excluded",
            "no_data": "excluded",
        },
        "components": [
            {
                "id": item.component.id,
                "name": item.component.name,
                "group_id": item.component.group_id,
                "uptime_30d": pct(item.uptime_30),
                "uptime_90d": pct(item.uptime_90),
                "days": [
                    {
                        "date": bar.day.isoformat(),
                        "status": bar.status or None,
                        "uptime": pct(bar.uptime),
                        "seconds": {k: v for k, v in bar.seconds.items()},
                        "incidents": [
                            {"id": i.id, "name": i.name, "shortlink": shortlink(i.id)} for i in bar.incidents
                        ],
                    }
                    for bar in item.bars
                ],
            }
            for item in history
        ],
    }
