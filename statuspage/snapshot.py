"""What the public may see, as plain data: components, incidents and maintenances after the rollup.

`selectors.py` loads the rows (a constant number of queries) and calls the builders here, which
are pure: they read only the fields listed below and the prefetched relations they are given.
Everything public is built here and nowhere else, so "what may leave the building" is one file:

- components: name, description, position, flags, start date, group, the rolled-up status;
- incidents: title, opening/resolution times, and their PUBLIC updates (status, body, time);
- maintenance windows (never drafts, never unannounced ones): title, planned times / ETA, the
  published announcement and the status-page posts of the public maintenance events.

Never read here: internal notes, non-public updates, levels (except as the coarse impact),
people, hosts, checklists, approvals, rollback plans, runbook output, audit data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from ersen_ops.status.snapshot import PublicComponent, latest
from maintenance.choices import WindowEvent, WindowStatus
from statuspage import policy


@dataclass(frozen=True)
class AffectedComponent:
    code: str
    name: str
    old_status: str
    new_status: str


@dataclass
class PublicUpdate:
    id: str
    status: str
    body: str
    created_at: datetime
    affected_components: list[AffectedComponent] | None
    event_id: str
    event_name: str
    kind: str  # "incident" | "maintenance"
    label: str = ""  # what happened, in words (the status alone says "completed" for a cancellation too)


@dataclass
class PublicEvent:
    """An incident or a scheduled maintenance, as Statuspage shows both."""

    kind: str  # "incident" | "maintenance"
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    impact: str
    started_at: datetime
    updates: list[PublicUpdate]  # newest first
    components: list[PublicComponent]
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None
    cancelled: bool = False

    @property
    def shortlink(self) -> str:
        return shortlink(self.id)

    @property
    def is_open(self) -> bool:
        if self.kind == "incident":
            return self.status not in ("resolved", "postmortem")
        return self.status in ("scheduled", "in_progress", "verifying")

    @property
    def sort_time(self) -> datetime:
        return self.scheduled_for if self.kind == "maintenance" and self.scheduled_for else self.started_at


@dataclass
class StatusSnapshot:
    updated_at: datetime
    indicator: str
    description: str
    components: list[PublicComponent]
    incidents: list[PublicEvent] = field(default_factory=list)
    maintenances: list[PublicEvent] = field(default_factory=list)


def page_url() -> str:
    return settings.OPS_STATUS_PAGE_URL.rstrip("/")


def shortlink(public_id: str) -> str:
    """The public page of an incident or maintenance (Statuspage's `shortlink`)."""
    return f"{page_url()}/incidents/{public_id}"


# --- incidents --------------------------------------------------------------------------------------


def build_incident(incident, *, components: dict[int, PublicComponent]) -> PublicEvent | None:
    """An incident with its public updates (`incident.public_updates`, newest first, prefetched) and its
    impacts (`incident.component_impacts`, prefetched). None if it has no public update: an incident
    nobody announced does not exist publicly."""
    public_updates = list(incident.public_updates)
    if not public_updates:
        return None
    impacts = [(ic.component_id, ic.impact) for ic in incident.component_impacts.all() if ic.component_id in components]
    affected = [components[cid] for cid, _ in impacts]
    oldest_first = list(reversed(public_updates))
    transitions = {
        cid: policy.update_component_transitions([u.status for u in oldest_first], impact) for cid, impact in impacts
    }
    updates_oldest_first = []
    for index, u in enumerate(oldest_first):
        updates_oldest_first.append(
            PublicUpdate(
                id=u.public_id,
                status=u.status,
                body=u.body,
                created_at=u.created_at,
                affected_components=[
                    AffectedComponent(components[cid].id, components[cid].name, *transitions[cid][index])
                    for cid, _ in impacts
                ]
                or None,
                event_id=incident.public_id,
                event_name=incident.title,
                kind="incident",
                label=policy.INCIDENT_STATUS_LABELS.get(u.status, u.status),
            )
        )
    updates = list(reversed(updates_oldest_first))
    status = updates[0].status  # the public status is what the latest public update said
    monitoring = [u.created_at for u in updates if u.status == "monitoring"]
    resolved = status in ("resolved", "postmortem")
    return PublicEvent(
        kind="incident",
        id=incident.public_id,
        name=incident.title,
        status=status,
        created_at=incident.opened_at,
        updated_at=max(u.created_at for u in updates),
        monitoring_at=monitoring[0] if monitoring else None,
        resolved_at=(incident.resolved_at or updates[0].created_at) if resolved else None,
        impact=policy.incident_impact(component_impacts=[i for _, i in impacts], level=incident.level),
        started_at=incident.opened_at,
        updates=updates,
        components=affected,
    )


# --- maintenance windows ----------------------------------------------------------------------------


def announcement_update_id(window_public_id: str) -> str:
    """Stable id of a window's announcement (13 characters after the prefix: never a StatusPost's 12)."""
    return f"upd_{window_public_id.split('_', 1)[-1]}a"


def build_maintenance(window, *, components: dict[int, PublicComponent], posts) -> PublicEvent | None:
    """A window as a Statuspage scheduled maintenance. `posts`: its StatusPost rows (any order).

    The first update is the announcement the window was scheduled with (the text the status page
    published, or the window's announcement while the post is still on its way); every later
    status-page post of a public maintenance event follows. None for drafts and unannounced windows.
    """
    status = policy.maintenance_status(window_status=window.status)
    if status is None or window.announced_at is None:
        return None
    affected = [components[c.pk] for c in window.components.all() if c.pk in components]
    posts = sorted((p for p in posts if p.event in policy.MAINTENANCE_EVENT_STATUS), key=lambda p: (p.created_at, p.pk))
    announcement_post = next((p for p in posts if p.event == policy.ANNOUNCEMENT_EVENT), None)

    def affected_for(event: str):
        old, new = policy.MAINTENANCE_EVENT_TRANSITION[event]
        return [AffectedComponent(c.id, c.name, old, new) for c in affected] or None

    def update(uid: str, event: str, body: str, at: datetime) -> PublicUpdate:
        return PublicUpdate(
            id=uid,
            status=policy.MAINTENANCE_EVENT_STATUS[event],
            body=body.strip(),
            created_at=at,
            affected_components=affected_for(event),
            event_id=window.public_id,
            event_name=window.title,
            kind="maintenance",
            label=policy.MAINTENANCE_EVENT_LABELS[event],
        )

    updates = [
        update(
            announcement_update_id(window.public_id),
            policy.ANNOUNCEMENT_EVENT,
            announcement_post.body if announcement_post else (window.announcement or ""),
            announcement_post.created_at if announcement_post else window.announced_at,
        )
    ]
    updates += [update(p.public_id, p.event, p.body, p.created_at) for p in posts if p is not announcement_post]
    updates.reverse()  # newest first
    cancelled = window.status == WindowStatus.CANCELLED
    created = updates[-1].created_at
    if cancelled:
        cancel_posts = [p.created_at for p in posts if p.event == WindowEvent.CANCELLED]
        resolved_at = cancel_posts[-1] if cancel_posts else window.updated_at
    elif status == "completed":
        resolved_at = window.actual_end  # the public completion; closing the "after" checklist is internal
    else:
        resolved_at = None
    return PublicEvent(
        kind="maintenance",
        id=window.public_id,
        name=window.title,
        status=status,
        created_at=created,
        updated_at=latest(updates[0].created_at, resolved_at, window.actual_start, window.actual_end),
        monitoring_at=None,
        resolved_at=resolved_at,
        impact="maintenance",
        started_at=created,
        updates=updates,
        components=affected,
        scheduled_for=window.planned_start,
        scheduled_until=window.eta or window.planned_end,
        cancelled=cancelled,
    )


def calendar_fields(window) -> dict | None:
    """What a window's VEVENT shows (None for drafts and unannounced windows). Its hash drives SEQUENCE."""
    if window.status == WindowStatus.DRAFT or window.announced_at is None:
        return None
    start = window.actual_start or window.planned_start
    if window.actual_end:
        end = window.actual_end
    elif window.status == WindowStatus.IN_PROGRESS:
        end = max(window.eta or window.planned_end, window.planned_end)
    else:
        end = window.eta or window.planned_end
    if end <= start:
        end = window.planned_end if window.planned_end > start else start
    description = (window.announcement or "").strip()
    if window.status == WindowStatus.CANCELLED:
        reason = " ".join((window.cancellation_reason or "").split())
        description = "CANCELLED" + (f": {reason}" if reason else "") + ("\n\n" + description if description else "")
    return {
        "summary": f"Maintenance: {window.title}",
        "description": description,
        "start": start,
        "end": end,
        "status": "CANCELLED" if window.status == WindowStatus.CANCELLED else "CONFIRMED",
        "state": window.status,
    }
