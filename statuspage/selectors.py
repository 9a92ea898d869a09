"""Reads for the public status: every document in a constant number of queries, however long the history.

Each loader fetches only public columns (`only()`), so an internal field cannot slip into a
document by accident: touching a deferred field would cost an extra query per row, which the
query-count tests catch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet

from ersen_ops.status import policy as status_policy
from ersen_ops.status.models import Component, StatusPost
from ersen_ops.status.selectors import load_components
from ersen_ops.status.snapshot import leaf_statuses
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.choices import ACTIVE_STATUSES, WindowStatus
from maintenance.models import MaintenanceWindow
from statuspage import policy
from statuspage.snapshot import (
    PublicComponent,
    PublicEvent,
    StatusSnapshot,
    build_incident,
    build_maintenance,
    calendar_fields,
)

RECENT_LIMIT = 50  # incidents.json, scheduled-maintenances.json, the feeds
HISTORY_DAYS = 14  # the public page's history
HISTORY_LIMIT = 100  # incidents (and windows) at most on the page's history
CALENDAR_RECENT_DAYS = 30  # finished windows stay in the calendar this long
CALENDAR_LIMIT = 500

INCIDENT_FIELDS = ("id", "public_id", "title", "level", "opened_at", "resolved_at")
WINDOW_FIELDS = (
    "id",
    "public_id",
    "title",
    "status",
    "planned_start",
    "planned_end",
    "eta",
    "actual_start",
    "actual_end",
    "announced_at",
    "announcement",
    "cancellation_reason",
    "updated_at",
)
PUBLIC_MAINTENANCE_EVENTS = tuple(policy.MAINTENANCE_EVENT_STATUS)
# Listed as current maintenance: a completed window is completed publicly, whatever its "after" checklist says.
OPEN_WINDOW = Q(status__in=ACTIVE_STATUSES)

# --- building blocks ----------------------------------------------------------------------------------


def public_incidents() -> QuerySet[Incident]:
    """Incidents with at least one public update (an incident nobody announced is not public)."""
    return Incident.objects.filter(Exists(IncidentUpdate.objects.filter(incident=OuterRef("pk"), public=True)))


def public_windows() -> QuerySet[MaintenanceWindow]:
    """Windows that were announced: never drafts, never a draft that was cancelled before scheduling."""
    return MaintenanceWindow.objects.exclude(status=WindowStatus.DRAFT).filter(announced_at__isnull=False)


def load_incidents(queryset: QuerySet[Incident], components: dict[int, PublicComponent]) -> list[PublicEvent]:
    """Incidents with their public updates and impacts (3 queries)."""
    rows = queryset.only(*INCIDENT_FIELDS).prefetch_related(
        Prefetch(
            "updates",
            queryset=IncidentUpdate.objects.filter(public=True)
            .only("id", "public_id", "incident_id", "status", "body", "created_at")
            .order_by("-created_at", "-id"),
            to_attr="public_updates",
        ),
        Prefetch(
            "component_impacts",
            queryset=IncidentComponent.objects.order_by("component_id").only(
                "id", "incident_id", "component_id", "impact"
            ),
        ),
    )
    events = (build_incident(i, components=components) for i in rows)
    return [e for e in events if e is not None]


def load_maintenances(
    queryset: QuerySet[MaintenanceWindow], components: dict[int, PublicComponent]
) -> list[PublicEvent]:
    """Windows with their components and status-page posts (3 queries)."""
    windows = list(
        queryset.only(*WINDOW_FIELDS).prefetch_related(
            Prefetch("components", queryset=Component.objects.only("id").order_by("position", "name"))
        )
    )
    if not windows:
        return []
    posts: dict[str, list] = defaultdict(list)
    for post in StatusPost.objects.filter(
        related_type__app_label="maintenance",
        related_type__model="maintenancewindow",
        related_id__in=[str(w.pk) for w in windows],
        event__in=PUBLIC_MAINTENANCE_EVENTS,
    ).only("id", "public_id", "related_id", "event", "body", "created_at"):
        posts[post.related_id].append(post)
    events = (build_maintenance(w, components=components, posts=posts.get(str(w.pk), ())) for w in windows)
    return [e for e in events if e is not None]


def page_updated_at(components: list[PublicComponent], *, fallback: datetime) -> datetime:
    """The latest public change (3 queries): what `page.updated_at` says, without internal activity."""
    moments = [c.updated_at for c in components]
    moments.append(IncidentUpdate.objects.filter(public=True).aggregate(m=Max("created_at"))["m"])
    moments.append(StatusPost.objects.filter(event__in=PUBLIC_MAINTENANCE_EVENTS).aggregate(m=Max("created_at"))["m"])
    moments.extend(
        public_windows()
        .aggregate(a=Max("announced_at"), b=Max("actual_start"), c=Max("actual_end"))
        .values()
    )
    present = [m for m in moments if m is not None]
    return max(present) if present else fallback


# --- documents ------------------------------------------------------------------------------------------


def summary_snapshot(*, fallback_updated_at: datetime) -> StatusSnapshot:
    """Components, the rollup, unresolved public incidents, upcoming / in-progress / verifying maintenances."""
    components = load_components()
    by_pk = {c.pk: c for c in components}
    incidents = load_incidents(public_incidents().filter(resolved_at__isnull=True).order_by("-opened_at", "-id"), by_pk)
    maintenances = load_maintenances(public_windows().filter(OPEN_WINDOW).order_by("planned_start", "id"), by_pk)
    indicator, description = status_policy.rollup(
        component_statuses=leaf_statuses(components),
        unplaced_incident_impacts=[i.impact for i in incidents if i.is_open and not i.components],
        maintenance_in_progress=any(m.status == "in_progress" and not m.components for m in maintenances),
    )
    return StatusSnapshot(
        updated_at=page_updated_at(components, fallback=fallback_updated_at),
        indicator=indicator,
        description=description,
        components=components,
        incidents=[i for i in incidents if i.is_open],
        maintenances=maintenances,
    )


def recent_incidents(components: list[PublicComponent], limit: int = RECENT_LIMIT) -> list[PublicEvent]:
    by_pk = {c.pk: c for c in components}
    return load_incidents(public_incidents().order_by("-opened_at", "-id")[:limit], by_pk)


def recent_maintenances(components: list[PublicComponent], limit: int = RECENT_LIMIT) -> list[PublicEvent]:
    by_pk = {c.pk: c for c in components}
    return load_maintenances(public_windows().order_by("-planned_start", "-id")[:limit], by_pk)


@dataclass
class History:
    since: datetime
    incidents: list[PublicEvent]
    maintenances: list[PublicEvent]


def history(components: list[PublicComponent], *, since: datetime) -> History:
    """The public page's past: incidents opened since `since`, and windows that ran or were cancelled since."""
    by_pk = {c.pk: c for c in components}
    incidents = load_incidents(
        public_incidents().filter(opened_at__gte=since).order_by("-opened_at", "-id")[:HISTORY_LIMIT], by_pk
    )
    windows = load_maintenances(
        public_windows()
        .filter(status__in=(WindowStatus.COMPLETED, WindowStatus.CANCELLED))
        .filter(Q(actual_start__gte=since) | Q(planned_start__gte=since) | Q(actual_end__gte=since))
        .order_by("-planned_start", "-id")[:HISTORY_LIMIT],
        by_pk,
    )
    return History(since=since, incidents=incidents, maintenances=windows)


def event_by_public_id(public_id: str) -> tuple[PublicEvent | None, list[PublicComponent]]:
    """One incident (`inc_…`) or maintenance (`mnt_…`) for its public page; None if it is not public."""
    components = load_components()
    by_pk = {c.pk: c for c in components}
    if public_id.startswith("inc_"):
        events = load_incidents(public_incidents().filter(public_id=public_id), by_pk)
    elif public_id.startswith("mnt_"):
        events = load_maintenances(public_windows().filter(public_id=public_id), by_pk)
    else:
        events = []
    return (events[0] if events else None), components


def feed_updates(limit: int = RECENT_LIMIT):
    """The newest public updates of incidents and maintenances together, newest first (constant queries)."""
    components = load_components()
    by_pk = {c.pk: c for c in components}
    incident_ids = list(
        IncidentUpdate.objects.filter(public=True)
        .order_by("-created_at", "-id")
        .values_list("incident_id", flat=True)[:limit]
    )
    incidents = load_incidents(Incident.objects.filter(pk__in=set(incident_ids)), by_pk)
    window_ids = set(
        int(pk)
        for pk in StatusPost.objects.filter(
            related_type__app_label="maintenance",
            related_type__model="maintenancewindow",
            event__in=PUBLIC_MAINTENANCE_EVENTS,
        )
        .order_by("-created_at", "-id")
        .values_list("related_id", flat=True)[:limit]
        if pk.isdigit()
    )
    window_ids.update(public_windows().order_by("-announced_at", "-id").values_list("pk", flat=True)[:limit])
    maintenances = load_maintenances(public_windows().filter(pk__in=window_ids), by_pk)
    updates = [u for event in [*incidents, *maintenances] for u in event.updates]
    updates.sort(key=lambda u: (u.created_at, u.id), reverse=True)
    events = {e.id: e for e in [*incidents, *maintenances]}
    return [(u, events[u.event_id]) for u in updates[:limit]]


def calendar_windows(*, now: datetime):
    """Windows for the iCalendar feed: upcoming and in progress, plus those finished or cancelled lately.

    Returns [(window, fields, CalendarSequence | None)] (3 queries)."""
    from ersen_ops.status.models import CalendarSequence

    recent = now - timedelta(days=CALENDAR_RECENT_DAYS)
    windows = list(
        public_windows()
        .filter(
            Q(status__in=ACTIVE_STATUSES)
            | Q(planned_end__gte=recent)
            | Q(actual_end__gte=recent)
            | Q(status=WindowStatus.CANCELLED, updated_at__gte=recent)
        )
        .only(*WINDOW_FIELDS)
        .order_by("-planned_start", "-id")[:CALENDAR_LIMIT]
    )
    sequences = {
        s.window_public_id: s
        for s in CalendarSequence.objects.filter(window_public_id__in=[w.public_id for w in windows])
    }
    result = []
    for w in reversed(windows):
        fields = calendar_fields(w)
        if fields is not None:
            result.append((w, fields, sequences.get(w.public_id)))
    return result
