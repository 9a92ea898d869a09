"""Every state change of an incident: one function per change, each atomic and audited.

Shape of each service: lock the row (`select_for_update`), check the rule (pure ones live in
`incidents.policy`), change, `full_clean()`, save, `audit.record(...)` in the same transaction, and
tell people through `notify()` (which queues the sending after commit).

Escalation by level (the seed's table): P1 pages immediately (pager trigger, one dedup key per
incident) plus Slack; acknowledgement sends the pager "acknowledge", resolution "resolve"; P2 is a
Slack alert; P3 and P4 interrupt nobody. Public updates go to the status page channel; internal
notes and non-public updates never leave the admin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError, InvalidTransition, PolicyViolation
from ersen_ops.core.kit import clean, lock, now_or, require
from ersen_ops.notifications.choices import Channel, PagerAction
from ersen_ops.notifications.services import notify
from ersen_ops.status.models import Component
from incidents import messages, policy
from incidents.calendar import repage_interval, sprint_calendar
from incidents.choices import Impact, IncidentEvent, IncidentStatus, Level, can_transition
from incidents.models import Incident, IncidentComponent, IncidentUpdate, LevelChange

SWEEPER = "system:incident-sla"

# Who may do what (roles grant these; the system — tasks, the CLI, other apps' services — acts on its own authority).
PERM_OPEN = "incidents.add_incident"
PERM_CHANGE = "incidents.change_incident"
PERM_POST_UPDATE = "incidents.add_incidentupdate"
PERM_ACKNOWLEDGE = "incidents.acknowledge_incident"
PERM_RESOLVE = "incidents.resolve_incident"
PERM_CHANGE_LEVEL = "incidents.change_level_incident"
PERM_COMMAND = "incidents.command_incident"

INVALID = "The incident is not valid."
PAGER_SEVERITY = "critical"  # PagerDuty Events v2 payload.severity of every P1 page

MESSAGE_RESOLVE_NEEDS_TEXT = (
    "Resolving needs a final public update: write what happened and that it is fixed. "
    "Customers read it on the status page."
)


@dataclass(frozen=True)
class Outcome:
    """Result of an idempotent action: `changed` is False when it had already been done."""

    incident: Incident
    changed: bool
    message: str


# --- helpers -------------------------------------------------------------------------


def _user(actor):
    """The user behind an actor, or None for a system actor."""
    return actor_fields(actor)[0]


def _snapshot(incident: Incident) -> dict:
    return {
        "level": incident.level,
        "status": incident.status,
        "response_due_at": incident.response_due_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "breached": incident.breached,
        "commander": incident.commander.get_username() if incident.commander_id else None,
        "maintenance_window": incident.maintenance_window_id,
    }


def _impacts_snapshot(incident: Incident) -> dict:
    return {ic.component.name: ic.impact for ic in incident.component_impacts.select_related("component")}


def _require_open(incident: Incident, doing: str) -> None:
    if incident.is_resolved:
        raise InvalidTransition(
            f"Cannot {doing}: the incident is resolved (since {policy.format_moment(incident.resolved_at)}); "
            "a recurrence is a new incident."
        )


def _page(incident: Incident, *, actor, now: datetime, what: str, body: str) -> None:
    """Send (or repeat) the pager trigger and remember it, so the re-page rhythm counts from it."""
    notify(
        event=IncidentEvent.PAGED,
        channels=[Channel.PAGER],
        subject=messages.subject(incident, what),
        body=body,
        related=incident,
        actor=actor,
        pager_action=PagerAction.TRIGGER,
        dedup_key=incident.dedup_key,
        severity=PAGER_SEVERITY,
    )
    if incident.pager_triggered_at is None:
        incident.pager_triggered_at = now
    incident.last_paged_at = now
    incident.page_count += 1


def _close_pager(incident: Incident, *, actor, action: str, what: str, body: str) -> None:
    notify(
        event=IncidentEvent.pager(action),
        channels=[Channel.PAGER],
        subject=messages.subject(incident, what),
        body=body,
        related=incident,
        actor=actor,
        pager_action=action,
        dedup_key=incident.dedup_key,
        severity=PAGER_SEVERITY,
    )


def _escalate(incident: Incident, *, actor, now: datetime, event: str, what: str, body: str, page: bool) -> None:
    """Interrupt whoever the level says: P1 page (+ Slack), P2 Slack, P3/P4 nobody."""
    channels = list(policy.ESCALATION_CHANNELS[incident.level])
    if Channel.PAGER in channels:
        channels.remove(Channel.PAGER)
        if page:
            _page(incident, actor=actor, now=now, what=what, body=body)
    if channels:
        notify(event=event, channels=channels, subject=messages.subject(incident, what), body=body, related=incident, actor=actor)


def _publish(incident: Incident, update: IncidentUpdate, *, actor) -> None:
    """A public update to the status page: the update's own text, nothing else."""
    notify(
        event=IncidentEvent.public_update(update.status),
        channels=[Channel.STATUS_PAGE],
        subject=f"{incident.title} — {update.get_status_display()}",
        body=update.body,
        related=incident,
        actor=actor,
    )


def _normalise_impacts(components: Mapping | Iterable) -> dict[int, str]:
    """{component or id: impact} or [(component or id, impact)] → {component_id: impact}; None/"" drops it."""
    pairs = components.items() if isinstance(components, Mapping) else components
    result: dict[int, str] = {}
    for component, impact in pairs:
        if not impact:
            continue
        if impact not in Impact.values:
            raise DomainError(f"Unknown impact {impact!r}; choose one of {', '.join(Impact.values)}.")
        component_id = component.pk if isinstance(component, Component) else int(component)
        result[component_id] = impact
    return result


def _window_problem(incident: Incident, window, now: datetime) -> str | None:
    start = window.actual_start or window.planned_start
    end = window.actual_end or window.eta or window.planned_end
    if window.actual_end is None and window.status == "in_progress":
        end = max(end, now)  # still running: it covers up to now
    return policy.window_link_problem(
        window_title=window.title,
        window_status=window.status,
        window_start=start,
        window_end=end,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        now=now,
    )


def _create_update(incident: Incident, *, actor, status: str, body: str, public: bool, now: datetime) -> IncidentUpdate:
    user, name = actor_fields(actor)
    update = IncidentUpdate(
        incident=incident, status=status, body=body.strip(), public=public, author=user, author_name=name, created_at=now
    )
    clean(update, lead=INVALID)
    update.save()
    return update


# --- open ------------------------------------------------------------------------------


@transaction.atomic
def incident_open(
    *,
    actor,
    title: str,
    level: str,
    components: Mapping | Iterable = (),
    commander=None,
    message: str = "",
    internal_notes: str = "",
    maintenance_window=None,
    now: datetime | None = None,
) -> Incident:
    """Open an incident. `message`, if given, is the first public update ("Investigating")."""
    require(actor, PERM_OPEN, what="opening incidents")
    now = now_or(now)
    title = (title or "").strip()
    if not title:
        raise DomainError("An incident needs a title (it is shown on the status page if you post a public update).")
    if level not in Level.values:
        raise DomainError(f"Unknown level {level!r}; choose one of {', '.join(Level.values)}.")
    impacts = _normalise_impacts(components)
    incident = Incident(
        title=title,
        level=level,
        status=IncidentStatus.INVESTIGATING,
        opened_at=now,
        opened_by=_user(actor),
        commander=commander,
        internal_notes=internal_notes,
        response_due_at=policy.response_due_at(level=level, opened_at=now, calendar=sprint_calendar()),
    )
    if maintenance_window is not None:
        problem = _window_problem(incident, maintenance_window, now)
        if problem:
            raise PolicyViolation(problem)
        incident.maintenance_window = maintenance_window
    clean(incident, lead=INVALID)
    incident.save()
    known = set(Component.objects.filter(pk__in=impacts).values_list("pk", flat=True))
    missing = sorted(set(impacts) - known)
    if missing:
        raise DomainError(f"Unknown component id(s): {', '.join(map(str, missing))}.")
    IncidentComponent.objects.bulk_create(
        IncidentComponent(incident=incident, component_id=cid, impact=impact) for cid, impact in impacts.items()
    )
    update = None
    if message.strip():
        update = _create_update(incident, actor=actor, status=IncidentStatus.INVESTIGATING, body=message, public=True, now=now)
    record(
        actor=actor,
        action=IncidentEvent.OPENED,
        target=incident,
        data={
            "after": _snapshot(incident),
            "components": _impacts_snapshot(incident),
            "first_update": update.public_id if update else None,
        },
    )
    if update is not None:
        _publish(incident, update, actor=actor)
    body = messages.render("opened", incident, actor=actor)
    _escalate(incident, actor=actor, now=now, event=IncidentEvent.OPENED, what="Incident opened", body=body, page=True)
    if incident.page_count:
        incident.save(update_fields=["pager_triggered_at", "last_paged_at", "page_count", "updated_at"])
    return incident


# --- acknowledge ------------------------------------------------------------------------


def incident_acknowledge(*, actor, incident: Incident | int, now: datetime | None = None) -> Outcome:
    """Acknowledge (= respond to) an incident. Doing it again is a no-op with a message, not an error.

    The row lock serialises concurrent acknowledgements: the second one finds it done.
    A late acknowledgement records the breach if the sweeper has not yet. If the incident has no
    commander, the person acknowledging takes command.
    """
    require(actor, PERM_ACKNOWLEDGE, what="acknowledging incidents")
    now = now_or(now)
    with transaction.atomic():
        incident = lock(incident, model=Incident)
        if incident.acknowledged_at is not None:
            who = incident.acknowledged_by.get_username() if incident.acknowledged_by_id else "the system"
            return Outcome(
                incident,
                False,
                f"Already acknowledged by {who} at {policy.format_moment(incident.acknowledged_at)}; nothing changed.",
            )
        _require_open(incident, "acknowledge")
        before = _snapshot(incident)
        user = _user(actor)
        incident.acknowledged_at = now
        incident.acknowledged_by = user
        late = policy.acknowledged_late(response_due_at=incident.response_due_at, acknowledged_at=now)
        if late and not incident.breached:
            incident.breached = True
            incident.breached_at = now
        if incident.commander_id is None and user is not None:
            incident.commander = user
        pager_was_open = incident.pager_open
        clean(incident, lead=INVALID)
        incident.save()
        waited = now - incident.opened_at
        record(
            actor=actor,
            action=IncidentEvent.ACKNOWLEDGED,
            target=incident,
            data={
                "before": before,
                "after": _snapshot(incident),
                "response_seconds": int(waited.total_seconds()),
                "late": late,
            },
        )
        body = messages.render("acknowledged", incident, actor=actor, waited=policy.format_duration(waited))
        what = f"Acknowledged by {actor_fields(actor)[1]}"
        if pager_was_open:
            # The alert stays open (acknowledged) until resolution sends "resolve".
            _close_pager(incident, actor=actor, action=PagerAction.ACKNOWLEDGE, what=what, body=body)
        slack = [c for c in policy.ESCALATION_CHANNELS[incident.level] if c != Channel.PAGER]
        if slack:
            notify(event=IncidentEvent.ACKNOWLEDGED, channels=slack, subject=messages.subject(incident, what), body=body, related=incident, actor=actor)
    message = f"Acknowledged after {policy.format_duration(waited)}."
    if late:
        message += f" The response SLA ({policy.LEVELS[incident.level].response_label}) was missed: recorded as breached."
    return Outcome(incident, True, message)


# --- level ------------------------------------------------------------------------------


@transaction.atomic
def incident_change_level(*, actor, incident: Incident | int, level: str, reason: str, now: datetime | None = None) -> Incident:
    """Raise or lower the level, with a reason kept in the level history.

    Raising: due = min(old due, now + the new level's response time), and the new level's
    escalation fires (a P1 pages unless already acknowledged). Lowering never extends a recorded
    breach; lowering a paged P1 resolves its pager alert (it no longer warrants a page).
    """
    require(actor, PERM_CHANGE_LEVEL, what="changing an incident's level")
    now = now_or(now)
    incident = lock(incident, model=Incident)
    reason = (reason or "").strip()
    if level not in Level.values:
        raise DomainError(f"Unknown level {level!r}; choose one of {', '.join(Level.values)}.")
    if not reason:
        raise DomainError("Changing the level needs a reason; it is kept in the level history.")
    _require_open(incident, "change the level")
    if level == incident.level:
        raise DomainError(f"The incident is already {level}; nothing to change.")
    before = _snapshot(incident)
    old_level, old_due = incident.level, incident.response_due_at
    raising = policy.is_raise(old_level, level)
    incident.level = level
    incident.response_due_at = policy.due_after_level_change(
        old_level=old_level,
        new_level=level,
        old_due=old_due,
        opened_at=incident.opened_at,
        breached=incident.breached,
        now=now,
        calendar=sprint_calendar(),
    )
    user, name = actor_fields(actor)
    change = LevelChange(
        incident=incident,
        changed_by=user,
        changed_by_name=name,
        changed_at=now,
        old_level=old_level,
        new_level=level,
        reason=reason,
        old_response_due_at=old_due,
        new_response_due_at=incident.response_due_at,
    )
    clean(incident, lead=INVALID)
    clean(change, lead=INVALID)
    direction = "raised" if raising else "lowered"
    body = messages.render("level_changed", incident, actor=actor, old_level=old_level, reason=reason, direction=direction)
    what = f"Level {direction} {old_level} → {level}"
    if raising:
        _escalate(
            incident, actor=actor, now=now, event=IncidentEvent.LEVEL_RAISED, what=what, body=body,
            page=not incident.is_acknowledged,
        )
    else:
        if incident.pager_open and level != Level.P1:
            _close_pager(incident, actor=actor, action=PagerAction.RESOLVE, what=what, body=body)
            incident.pager_triggered_at = None
        # The channels alerted at the old level hear that it calmed down.
        old_alerts = [c for c in policy.ESCALATION_CHANNELS[old_level] if c != Channel.PAGER]
        if old_alerts:
            notify(event=IncidentEvent.LEVEL_LOWERED, channels=old_alerts, subject=messages.subject(incident, what), body=body, related=incident, actor=actor)
    incident.save()
    change.save()
    record(
        actor=actor,
        action=IncidentEvent.LEVEL_CHANGED,
        target=incident,
        data={"before": before, "after": _snapshot(incident), "reason": reason, "direction": direction},
    )
    return incident


# --- updates and resolution --------------------------------------------------------------


@transaction.atomic
def incident_post_update(
    *, actor, incident: Incident | int, status: str, body: str, public: bool = True, now: datetime | None = None
) -> IncidentUpdate:
    """Add to the timeline, possibly moving the status. Public updates go to the status page;
    non-public ones stay in the admin."""
    require(actor, PERM_POST_UPDATE, what="posting incident updates")
    now = now_or(now)
    incident = lock(incident, model=Incident)
    body = (body or "").strip()
    if not body:
        raise DomainError("An update needs a text.")
    if status not in IncidentStatus.values:
        raise DomainError(f"Unknown status {status!r}; choose one of {', '.join(IncidentStatus.values)}.")
    _require_open(incident, "post an update")
    if status == IncidentStatus.RESOLVED:
        raise InvalidTransition("To resolve the incident use “Resolve”: it records who resolved it and when.")
    if status != incident.status and not can_transition(incident.status, status):
        raise InvalidTransition(
            f"The incident is {incident.get_status_display().lower()}; it cannot move to {status}."
        )
    before = _snapshot(incident)
    update = _create_update(incident, actor=actor, status=status, body=body, public=public, now=now)
    if status != incident.status:
        incident.status = status
        clean(incident, lead=INVALID)
        incident.save()
    record(
        actor=actor,
        action=IncidentEvent.UPDATE_POSTED,
        target=incident,
        data={
            "before": {"status": before["status"]},
            "after": {"status": incident.status},
            "update": update.public_id,
            "public": public,
        },
    )
    if public:
        _publish(incident, update, actor=actor)
    return update


@transaction.atomic
def incident_resolve(
    *,
    actor,
    incident: Incident | int,
    body: str,
    postmortem_summary: str = "",
    postmortem_url: str = "",
    now: datetime | None = None,
) -> Incident:
    """Resolve with a final public update. Resolving an unacknowledged incident counts as its response."""
    require(actor, PERM_RESOLVE, what="resolving incidents")
    now = now_or(now)
    incident = lock(incident, model=Incident)
    body = (body or "").strip()
    if incident.is_resolved:
        who = incident.resolved_by.get_username() if incident.resolved_by_id else "the system"
        raise InvalidTransition(
            f"The incident is already resolved (by {who} at {policy.format_moment(incident.resolved_at)})."
        )
    if not body:
        raise PolicyViolation(MESSAGE_RESOLVE_NEEDS_TEXT)
    before = _snapshot(incident)
    user = _user(actor)
    if incident.acknowledged_at is None:
        incident.acknowledged_at = now
        incident.acknowledged_by = user
        if policy.acknowledged_late(response_due_at=incident.response_due_at, acknowledged_at=now) and not incident.breached:
            incident.breached = True
            incident.breached_at = now
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.resolved_by = user
    if postmortem_summary:
        incident.postmortem_summary = postmortem_summary
    if postmortem_url:
        incident.postmortem_url = postmortem_url
    pager_was_open = incident.pager_open
    incident.pager_triggered_at = None
    clean(incident, lead=INVALID)
    incident.save()
    update = _create_update(incident, actor=actor, status=IncidentStatus.RESOLVED, body=body, public=True, now=now)
    record(
        actor=actor,
        action=IncidentEvent.RESOLVED,
        target=incident,
        data={
            "before": before,
            "after": _snapshot(incident),
            "update": update.public_id,
            "duration_seconds": int((now - incident.opened_at).total_seconds()),
        },
    )
    _publish(incident, update, actor=actor)
    text = messages.render(
        "resolved", incident, actor=actor, duration=policy.format_duration(now - incident.opened_at), final_update=body
    )
    what = "Resolved"
    if pager_was_open:
        _close_pager(incident, actor=actor, action=PagerAction.RESOLVE, what=what, body=text)
    slack = [c for c in policy.ESCALATION_CHANNELS[incident.level] if c != Channel.PAGER]
    if slack:
        notify(event=IncidentEvent.RESOLVED, channels=slack, subject=messages.subject(incident, what), body=text, related=incident, actor=actor)
    return incident


# --- people, components, links, edits -----------------------------------------------------


@transaction.atomic
def incident_assign_commander(*, actor, incident: Incident | int, commander) -> Incident:
    require(actor, PERM_COMMAND, what="assigning incident commanders")
    incident = lock(incident, model=Incident)
    _require_open(incident, "change the commander")
    if commander is not None and not commander.is_active:
        raise DomainError(f"{commander.get_username()} is deactivated and cannot command an incident.")
    if commander is not None and commander.pk == incident.commander_id:
        raise DomainError(f"{commander.get_username()} already commands this incident.")
    before = _snapshot(incident)
    incident.commander = commander
    clean(incident, lead=INVALID)
    incident.save()
    record(actor=actor, action=IncidentEvent.COMMANDER_ASSIGNED, target=incident, data={"before": before, "after": _snapshot(incident)})
    return incident


@transaction.atomic
def incident_set_components(*, actor, incident: Incident | int, components: Mapping | Iterable) -> Incident:
    """Replace the affected components and their impacts (these set the components' public status)."""
    require(actor, PERM_CHANGE, what="changing an incident's components")
    incident = lock(incident, model=Incident)
    _require_open(incident, "change the affected components")
    impacts = _normalise_impacts(components)
    known = set(Component.objects.filter(pk__in=impacts).values_list("pk", flat=True))
    if set(impacts) - known:
        raise DomainError(f"Unknown component id(s): {', '.join(map(str, sorted(set(impacts) - known)))}.")
    before = _impacts_snapshot(incident)
    existing = {ic.component_id: ic for ic in incident.component_impacts.all()}
    for cid, ic in existing.items():
        if cid not in impacts:
            ic.delete()
        elif ic.impact != impacts[cid]:
            ic.impact = impacts[cid]
            ic.save(update_fields=["impact"])
    IncidentComponent.objects.bulk_create(
        IncidentComponent(incident=incident, component_id=cid, impact=impact)
        for cid, impact in impacts.items()
        if cid not in existing
    )
    after = _impacts_snapshot(incident)
    if before != after:
        incident.save(update_fields=["updated_at"])
        record(actor=actor, action=IncidentEvent.COMPONENTS_CHANGED, target=incident, data={"before": before, "after": after})
    return incident


@transaction.atomic
def incident_link_window(*, actor, incident: Incident | int, window, now: datetime | None = None) -> Incident:
    """Link the maintenance window that caused the incident (None unlinks). The window must have been
    running at some moment while the incident was open."""
    require(actor, PERM_CHANGE, what="linking incidents to maintenance windows")
    now = now_or(now)
    incident = lock(incident, model=Incident)
    if window is not None:
        problem = _window_problem(incident, window, now)
        if problem:
            raise PolicyViolation(problem)
    if incident.maintenance_window_id == (window.pk if window else None):
        return incident
    before = _snapshot(incident)
    incident.maintenance_window = window
    clean(incident, lead=INVALID)
    incident.save()
    record(actor=actor, action=IncidentEvent.WINDOW_LINKED, target=incident, data={"before": before, "after": _snapshot(incident)})
    return incident


EDITABLE_FIELDS = ("title", "internal_notes", "postmortem_summary", "postmortem_url")


@transaction.atomic
def incident_edit(*, actor, incident: Incident | int, **fields) -> Incident:
    """Edit the free-text fields (title, internal notes, postmortem). Lifecycle fields have their own services."""
    require(actor, PERM_CHANGE, what="editing incidents")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields change through their own actions, not an edit: {', '.join(sorted(unknown))}.")
    incident = lock(incident, model=Incident)
    changed = {k: v for k, v in fields.items() if getattr(incident, k) != v}
    if not changed:
        return incident
    before = {k: getattr(incident, k) for k in changed}
    for key, value in changed.items():
        setattr(incident, key, value)
    if "title" in changed and not incident.title.strip():
        raise DomainError("An incident needs a title.")
    clean(incident, lead=INVALID)
    incident.save()
    record(actor=actor, action=IncidentEvent.EDITED, target=incident, data={"before": before, "after": changed})
    return incident


# --- the SLA sweeper ----------------------------------------------------------------------


def incidents_check_sla(*, now: datetime | None = None) -> dict[str, int]:
    """Every minute: mark unacknowledged incidents past their due time as breached (audited, escalated
    to the commander and the level's channel), and re-page unacknowledged P1s every
    OPS_P1_REPAGE_MINUTES. Each incident is handled under its own row lock, and the page slots are
    anchored, so running twice in one interval pages once."""
    now = now_or(now)
    counts = {"breached": 0, "repaged": 0}
    candidates = Incident.objects.filter(resolved_at__isnull=True, acknowledged_at__isnull=True).filter(
        Q(breached=False, response_due_at__lt=now) | Q(level=Level.P1, pager_triggered_at__isnull=False)
    )
    for pk in list(candidates.values_list("pk", flat=True)):
        with transaction.atomic():
            incident = lock(pk, model=Incident)
            if not incident.breached and policy.is_past_due(
                response_due_at=incident.response_due_at,
                acknowledged_at=incident.acknowledged_at,
                resolved_at=incident.resolved_at,
                now=now,
            ):
                _breach(incident, now=now)
                counts["breached"] += 1
            if policy.repage_due(
                level=incident.level,
                paging_since=incident.pager_triggered_at,
                last_paged_at=incident.last_paged_at,
                acknowledged_at=incident.acknowledged_at,
                resolved_at=incident.resolved_at,
                now=now,
                interval=repage_interval(),
            ):
                _repage(incident, now=now)
                counts["repaged"] += 1
    return counts


def _breach(incident: Incident, *, now: datetime) -> None:
    before = _snapshot(incident)
    incident.breached = True
    incident.breached_at = now
    overdue = now - incident.response_due_at
    body = messages.render("breached", incident, actor=SWEEPER, overdue=policy.format_duration(overdue))
    what = "Response SLA missed"
    channels = list(policy.BREACH_CHANNELS[incident.level])
    if Channel.PAGER in channels:
        channels.remove(Channel.PAGER)
        _page(incident, actor=SWEEPER, now=now, what=what, body=body)
    if channels:
        notify(event=IncidentEvent.BREACHED, channels=channels, subject=messages.subject(incident, what), body=body, related=incident, actor=SWEEPER)
    commander = incident.commander
    if commander is not None and commander.email:
        notify(
            event=IncidentEvent.BREACHED,
            channels=[Channel.EMAIL],
            subject=messages.subject(incident, what),
            body=body,
            related=incident,
            actor=SWEEPER,
            extra_recipients=[commander.email],
        )
    clean(incident, lead=INVALID)
    incident.save()
    record(
        actor=SWEEPER,
        action=IncidentEvent.BREACHED,
        target=incident,
        data={
            "before": before,
            "after": _snapshot(incident),
            "overdue_seconds": int(overdue.total_seconds()),
            "escalated_to": [str(c) for c in policy.BREACH_CHANNELS[incident.level]]
            + ([f"email:{commander.get_username()}"] if commander is not None and commander.email else []),
        },
    )


def _repage(incident: Incident, *, now: datetime) -> None:
    waited = now - incident.opened_at
    previous = incident.last_paged_at
    body = messages.render(
        "repaged", incident, actor=SWEEPER, waited=policy.format_duration(waited), page=incident.page_count + 1
    )
    _page(incident, actor=SWEEPER, now=now, what=f"Still unacknowledged after {policy.format_duration(waited)}", body=body)
    incident.save(update_fields=["pager_triggered_at", "last_paged_at", "page_count", "updated_at"])
    record(
        actor=SWEEPER,
        action=IncidentEvent.REPAGED,
        target=incident,
        data={"page": incident.page_count, "previous_page_at": previous, "unacknowledged_seconds": int(waited.total_seconds())},
    )
