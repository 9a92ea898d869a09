"""Reading incidents: component impacts for the public status, admin lists, timelines, deliveries, the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from ersen_ops.notifications.models import NotificationDelivery
from incidents import policy
from incidents.calendar import sprint_calendar
from incidents.choices import IMPACT_SEVERITY, Level
from incidents.models import Incident, IncidentComponent, IncidentUpdate, LevelChange


def component_impacts() -> dict[int, str]:
    """{component_id: worst impact} over all unresolved incidents (one query).

    The status API uses this to set components' public status while an incident is unresolved:
    the worst impact wins, and a component no unresolved incident touches is absent.
    """
    worst: dict[int, str] = {}
    rows = IncidentComponent.objects.filter(incident__resolved_at__isnull=True).values_list("component_id", "impact")
    for component_id, impact in rows:
        if component_id not in worst or IMPACT_SEVERITY[impact] > IMPACT_SEVERITY[worst[component_id]]:
            worst[component_id] = impact
    return worst


def unresolved_incidents() -> QuerySet[Incident]:
    return Incident.objects.filter(resolved_at__isnull=True)


def incident_list(queryset: QuerySet[Incident] | None = None) -> QuerySet[Incident]:
    """Incidents with what a list shows, in a constant number of queries, urgent first:
    unacknowledged unresolved P1s, then the other unacknowledged ones by level, then the rest; newest first."""
    qs = queryset if queryset is not None else Incident.objects.all()
    return (
        qs.select_related("commander")
        .prefetch_related(
            Prefetch("component_impacts", queryset=IncidentComponent.objects.select_related("component"))
        )
        .annotate(
            urgency=Case(
                When(Q(resolved_at__isnull=True, acknowledged_at__isnull=True, level=Level.P1), then=Value(0)),
                When(Q(resolved_at__isnull=True, acknowledged_at__isnull=True), then=Value(1)),
                When(resolved_at__isnull=True, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        .order_by("urgency", "level", "-opened_at", "-id")
    )


def sprint_queue(*, queryset: QuerySet[Incident] | None = None, now: datetime | None = None) -> QuerySet[Incident]:
    """The current sprint's incident work: unresolved P3s (and P3s resolved during this sprint)."""
    qs = queryset if queryset is not None else Incident.objects.all()
    sprint = sprint_calendar().sprint_at(now or timezone.now())
    return qs.filter(level=Level.P3).filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=sprint.start))


def backlog(*, queryset: QuerySet[Incident] | None = None) -> QuerySet[Incident]:
    """Unresolved P4s: cosmetic issues and enhancements, due by the end of the next sprint."""
    qs = queryset if queryset is not None else Incident.objects.all()
    return qs.filter(level=Level.P4, resolved_at__isnull=True)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "update" | "level"
    update: IncidentUpdate | None = None
    level_change: LevelChange | None = None


def incident_timeline(incident: Incident) -> list[TimelineEntry]:
    """Updates (public and internal) and level changes, oldest first (two queries)."""
    entries = [TimelineEntry(at=u.created_at, kind="update", update=u) for u in incident.updates.select_related("author")]
    entries += [TimelineEntry(at=c.changed_at, kind="level", level_change=c) for c in incident.level_changes.all()]
    return sorted(entries, key=lambda e: (e.at, 0 if e.kind == "level" else 1))


def public_updates(incident: Incident) -> QuerySet[IncidentUpdate]:
    """What the status page may show of an incident: its public updates only."""
    return incident.updates.filter(public=True).order_by("created_at", "id")


def deliveries_for(obj) -> QuerySet[NotificationDelivery]:
    """Every notification sent about `obj` (who was told what, when, and whether it arrived)."""
    ct = ContentType.objects.get_for_model(obj)
    return NotificationDelivery.objects.filter(related_type=ct, related_id=str(obj.pk)).order_by("id")


def response_report(*, now: datetime | None = None, periods: tuple[int, ...] = (30, 90)) -> dict[int, dict[str, policy.LevelStats]]:
    """MTTA, MTTR and SLA attainment per level for each period (days), from one query."""
    now = now or timezone.now()
    since = now - timedelta(days=max(periods))
    rows = [
        policy.IncidentTimes(*values)
        for values in Incident.objects.filter(opened_at__gte=since, opened_at__lte=now).values_list(
            "level", "opened_at", "acknowledged_at", "resolved_at", "response_due_at", "breached"
        )
    ]
    return {days: policy.response_stats(rows, now=now, days=days) for days in periods}


def incidents_taken_over(incident_ids) -> set[int]:
    """Of these incidents, the ones a person has acted on (acknowledged, posted an update, resolved or commands).

    The checks app stops automating an incident from then on: an operator has taken over."""
    ids = list(incident_ids)
    if not ids:
        return set()
    touched = set(
        Incident.objects.filter(pk__in=ids)
        .filter(
            Q(acknowledged_by__isnull=False) | Q(resolved_by__isnull=False) | Q(commander__isnull=False)
        )
        .values_list("pk", flat=True)
    )
    touched |= set(
        IncidentUpdate.objects.filter(incident_id__in=ids, author__isnull=False).values_list("incident_id", flat=True)
    )
    return touched
