"""The control room (the admin index): what is happening right now, without a click.

Reads only, built from the apps' selectors and pure policies. Every section costs a fixed number of
queries whatever the number of rows (tested with 5 and 50 of each), and a section appears only for a
user who may view what it lists.

Sections: the public status as the world sees it; windows in progress and the next 7 days'; open
incidents by level with their response SLA; running and recently failed runbook executions; failed
notification deliveries; the last audit events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q
from django.urls import NoReverseMatch, reverse

from ersen_ops.core.display import duration, status_badge

UPCOMING_DAYS = 7
RECENT_FAILURES = timedelta(hours=24)
FAILED_DELIVERIES_DAYS = 7
AUDIT_EVENTS = 20
LIST_LIMIT = 20  # rows per section at most (with "N more" linking to the filtered list)

# Statuspage page indicator → colour of the banner (the text is always shown too).
INDICATOR_COLOURS = {
    "none": "#2e7d32",
    "maintenance": "#1565c0",
    "minor": "#f9a825",
    "major": "#ef6c00",
    "critical": "#c62828",
}

PERMS = {
    "status": "status.view_component",
    "windows": "maintenance.view_maintenancewindow",
    "incidents": "incidents.view_incident",
    "executions": "runbooks.view_runbookexecution",
    "deliveries": "notifications.view_notificationdelivery",
    "audit": "audit.view_auditevent",
    "schedules": "scheduler.view_occurrence",
}


def admin_url(app_label: str, model: str, pk, view: str = "change") -> str:
    try:
        return reverse(f"admin:{app_label}_{model}_{view}", args=[pk])
    except NoReverseMatch:
        return ""


def workflow_url(app_label: str, model: str, pk, action: str) -> str:
    return reverse(f"admin:{app_label}_{model}_workflow", args=[pk, action])


# --- public status ---------------------------------------------------------------------------------------


@dataclass
class PublicStatus:
    indicator: str
    description: str
    colour: str
    components: list[dict]  # {"name", "status", "label", "colour", "group", "child"}
    page_url: str


def public_status(*, now: datetime) -> PublicStatus:
    """The page indicator and components exactly as the public summary computes them (constant queries)."""
    from ersen_ops.status.choices import COMPONENT_STATUS_COLOURS, ComponentStatus
    from statuspage import selectors as status_selectors

    snapshot = status_selectors.summary_snapshot(fallback_updated_at=now)
    by_id = {c.id: c for c in snapshot.components}
    rows = []
    for c in snapshot.components:
        if c.group_id:  # listed under its group
            continue
        rows.append(_component_row(c, COMPONENT_STATUS_COLOURS, ComponentStatus, child=False))
        for child_id in c.children:
            rows.append(_component_row(by_id[child_id], COMPONENT_STATUS_COLOURS, ComponentStatus, child=True))
    return PublicStatus(
        indicator=snapshot.indicator,
        description=snapshot.description,
        colour=INDICATOR_COLOURS.get(snapshot.indicator, "#616161"),
        components=rows,
        page_url=reverse("status:page"),
    )


def _component_row(c, colours, statuses, *, child: bool) -> dict:
    return {
        "name": c.name,
        "status": c.status,
        "label": statuses(c.status).label if c.status in statuses.values else c.status,
        "colour": colours.get(c.status),
        "group": c.group,
        "child": child,
        "url": admin_url("status", "component", c.pk),
    }


# --- maintenance windows ---------------------------------------------------------------------------------


@dataclass
class PhaseProgress:
    phase: str
    label: str
    done: int
    total: int
    open_items: list[str]

    @property
    def complete(self) -> bool:
        return self.done == self.total


@dataclass
class WindowRow:
    window: object
    url: str
    components: list[str]
    phases: dict[str, PhaseProgress]
    overdue: bool = False
    overdue_by: timedelta | None = None
    late_start: timedelta | None = None  # scheduled, start time passed, not started
    notice: str = ""
    notice_problem: bool = False
    next_action: dict | None = None  # {"label", "url"} — the next right thing, if the user may do it
    type_badge: str = ""
    status_badge: str = ""


def _window_queryset():
    from maintenance import selectors as maintenance_selectors
    from maintenance.models import ChecklistItem

    return maintenance_selectors.window_list().prefetch_related(
        "components",
        Prefetch("checklist_items", queryset=ChecklistItem.objects.order_by("phase", "order", "id")),
    )


def _window_row(window, now: datetime) -> WindowRow:
    from maintenance.choices import STATUS_COLOURS, TYPE_COLOURS

    return WindowRow(
        window=window,
        url=admin_url("maintenance", "maintenancewindow", window.pk),
        components=[c.name for c in window.components.all()],
        phases=_phases(window),
        type_badge=status_badge(window.type, window.get_type_display().split(" (")[0], TYPE_COLOURS),
        status_badge=status_badge(window.status, window.get_status_display(), STATUS_COLOURS),
    )


def _phases(window) -> dict[str, PhaseProgress]:
    from maintenance.choices import ChecklistPhase

    result = {}
    items = list(window.checklist_items.all())
    for phase in ChecklistPhase:
        mine = [i for i in items if i.phase == phase]
        result[phase.value] = PhaseProgress(
            phase=phase.value,
            label=phase.label,
            done=sum(1 for i in mine if i.done_at),
            total=len(mine),
            open_items=[i.text for i in mine if not i.done_at],
        )
    return result


# The next right thing on a window, in the order the control room offers it: the first action that the rules
# leave open (`maintenance.policy.window_actions`, the same answer as the window page's buttons) and that is due.
NEXT_ACTIONS = {
    "in_progress": (("update_eta", "Update ETA…"), ("complete", "Complete…")),
    "scheduled": (("start", "Start…"),),
    "draft": (("schedule", "Schedule…"),),
}


def _next_action(window, actions, *, now: datetime, user) -> dict | None:
    from maintenance import policy as maintenance_policy
    from maintenance import services as maintenance_services

    if not user.has_perm(maintenance_services.PERM_TRANSITION):
        return None
    open_now = maintenance_policy.blocking(actions, window.type)
    for action, label in NEXT_ACTIONS.get(window.status, ()):
        if open_now[action] or not _due(action, window, now):
            continue
        return {"label": label, "url": workflow_url("maintenance", "maintenancewindow", window.pk, action)}
    return None


def _due(action: str, window, now: datetime) -> bool:
    """When an open action is the next thing to do: a new ETA once running long, a start once its time came."""
    if action == "update_eta":
        return window.is_overdue(now)
    if action == "start":
        return window.planned_start <= now
    return True


def _actions_of(windows, now: datetime) -> dict:
    from maintenance import services as maintenance_services

    return maintenance_services.window_actions_many(windows, now=now)


def windows_in_progress(*, now: datetime, user) -> list[WindowRow]:
    from maintenance.choices import WindowStatus

    windows = list(_window_queryset().filter(status=WindowStatus.IN_PROGRESS).order_by("eta", "planned_start", "id"))
    actions = _actions_of(windows, now)
    rows = []
    for w in windows:
        row = _window_row(w, now)
        if w.is_overdue(now):
            row.overdue, row.overdue_by = True, now - w.eta
        row.next_action = _next_action(w, actions[w.pk], now=now, user=user)
        rows.append(row)
    return rows


def windows_upcoming(*, now: datetime, user, phase: str) -> list[WindowRow]:
    """Scheduled windows starting in the next 7 days (and those whose start passed without starting),
    and drafts planned in the next 7 days — with their notice and approval state."""
    from maintenance.choices import WindowStatus

    horizon = now + timedelta(days=UPCOMING_DAYS)
    qs = _window_queryset().filter(
        Q(status=WindowStatus.SCHEDULED, planned_start__lt=horizon)
        | Q(status=WindowStatus.DRAFT, planned_start__gte=now, planned_start__lt=horizon)
    )
    windows = list(qs.order_by("planned_start", "id"))
    actions = _actions_of(windows, now)
    rows = []
    for w in windows:
        row = _window_row(w, now)
        if w.status == WindowStatus.SCHEDULED:
            if w.announced_at:
                row.notice = f"announced {duration(w.planned_start - w.announced_at)} ahead"
            if w.planned_start <= now:
                row.late_start = now - w.planned_start
        else:
            row.notice, row.notice_problem = draft_notice(w, now=now, phase=phase)
        row.next_action = _next_action(w, actions[w.pk], now=now, user=user)
        rows.append(row)
    return rows


def draft_notice(window, *, now: datetime, phase: str) -> tuple[str, bool]:
    """(what the notice rule says about a draft if it were scheduled now, whether that is a problem). Pure."""
    from maintenance import policy as maintenance_policy

    return maintenance_policy.notice_outlook(
        window_type=window.type, planned_start=window.planned_start, now=now, phase=phase
    )


# --- incidents -------------------------------------------------------------------------------------------


@dataclass
class IncidentRow:
    incident: object
    url: str
    state: str  # "breached" | "waiting" | "acknowledged"
    due_at: datetime
    text: str
    components: list[tuple[str, str]]  # (name, impact label)
    acknowledge_url: str = ""


@dataclass
class LevelGroup:
    level: str
    label: str
    colour: str
    rows: list[IncidentRow]


def open_incidents(*, now: datetime, user) -> list[LevelGroup]:
    from incidents import policy as incident_policy
    from incidents import selectors as incident_selectors
    from incidents.choices import LEVEL_COLOURS, Level

    may_ack = user.has_perm("incidents.acknowledge_incident")
    groups = {level: LevelGroup(level.value, level.label, LEVEL_COLOURS[level], []) for level in Level}
    for i in incident_selectors.incident_list(incident_selectors.unresolved_incidents()):
        past_due = incident_policy.is_past_due(
            response_due_at=i.response_due_at, acknowledged_at=i.acknowledged_at, resolved_at=i.resolved_at, now=now
        )
        if i.acknowledged_at is not None:
            state = "acknowledged"
            text = f"acknowledged after {incident_policy.format_duration(i.acknowledged_at - i.opened_at)}" + (
                " (late)" if i.breached else ""
            )
        elif i.breached or past_due:
            state = "breached"
            text = f"SLA breached {incident_policy.format_duration(now - i.response_due_at)} ago"
        else:
            state = "waiting"
            text = f"acknowledge within {incident_policy.format_duration(i.response_due_at - now)}"
        groups[Level(i.level)].rows.append(
            IncidentRow(
                incident=i,
                url=admin_url("incidents", "incident", i.pk),
                state=state,
                due_at=i.response_due_at,
                text=text,
                components=[(ic.component.name, ic.get_impact_display()) for ic in i.component_impacts.all()],
                acknowledge_url=(
                    workflow_url("incidents", "incident", i.pk, "acknowledge")
                    if may_ack and i.acknowledged_at is None
                    else ""
                ),
            )
        )
    return [g for g in groups.values() if g.rows]


# --- runbook executions ----------------------------------------------------------------------------------


@dataclass
class ExecutionRow:
    execution: object
    url: str
    window_url: str
    badge: str
    waiting: str = ""


def executions_active() -> list[ExecutionRow]:
    from runbooks import selectors as runbook_selectors
    from runbooks.choices import ACTIVE_STATUSES

    qs = runbook_selectors.execution_list().filter(status__in=ACTIVE_STATUSES).order_by(*runbook_selectors.FIFO_ORDER)
    return [_execution_row(e) for e in qs[:LIST_LIMIT]]


def executions_failed(*, now: datetime) -> list[ExecutionRow]:
    from runbooks import selectors as runbook_selectors
    from runbooks.choices import ExecutionStatus

    failed = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.LOST)
    qs = (
        runbook_selectors.execution_list()
        .filter(status__in=failed, finished_at__gte=now - RECENT_FAILURES)
        .order_by("-finished_at", "-id")
    )
    return [_execution_row(e) for e in qs[:LIST_LIMIT]]


def _execution_row(e) -> ExecutionRow:
    from runbooks.choices import STATUS_COLOURS

    waiting = ""
    if e.status == "queued":
        waiting_for = getattr(e, "waiting_for_id", None)
        waiting = f"waiting for #{waiting_for} on this host" if waiting_for else "waiting for a worker"
    return ExecutionRow(
        execution=e,
        url=admin_url("runbooks", "runbookexecution", e.pk),
        window_url=admin_url("maintenance", "maintenancewindow", e.window_id) if e.window_id else "",
        badge=status_badge(e.status, e.get_status_display(), STATUS_COLOURS),
        waiting=waiting,
    )


# --- notification deliveries -----------------------------------------------------------------------------


@dataclass
class DeliveryRow:
    delivery: object
    url: str
    about_url: str
    about_label: str


def deliveries_failed(*, now: datetime) -> tuple[list[DeliveryRow], int]:
    """Failed or skipped deliveries of the last 7 days that nobody has resent yet (newest first), and their count."""
    from ersen_ops.notifications.choices import RESENDABLE_STATUSES
    from ersen_ops.notifications.models import NotificationDelivery

    qs = NotificationDelivery.objects.filter(
        status__in=RESENDABLE_STATUSES,
        created_at__gte=now - timedelta(days=FAILED_DELIVERIES_DAYS),
        resends__isnull=True,
    ).order_by("-created_at", "-id")
    rows = []
    for d in qs[:LIST_LIMIT]:
        about_url, about_label = _target(d.related_type_id, d.related_id, "")
        rows.append(
            DeliveryRow(
                delivery=d,
                url=admin_url("notifications", "notificationdelivery", d.pk),
                about_url=about_url,
                about_label=about_label,
            )
        )
    return rows, qs.count()


@dataclass
class NotificationHealth:
    """At the top of the control room: channels the protocol relies on that are not configured, and what was
    not delivered in the last 7 days (by status, linked to the filtered delivery list)."""

    gaps: list  # notifications.reliance.ChannelGap
    failed: int
    skipped: int
    list_url: str

    @property
    def any(self) -> bool:
        return bool(self.gaps or self.failed or self.skipped)


def notification_health(*, now: datetime, phase: str) -> NotificationHealth:
    from ersen_ops.notifications.reliance import unconfigured_channels
    from ersen_ops.notifications.selectors import undelivered_counts, undelivered_list_query

    since = now - timedelta(days=FAILED_DELIVERIES_DAYS)
    counts = undelivered_counts(since=since)
    return NotificationHealth(
        gaps=unconfigured_channels(phase),
        failed=counts["failed"],
        skipped=counts["skipped"],
        list_url=reverse("admin:notifications_notificationdelivery_changelist")
        + "?"
        + undelivered_list_query(since=since),
    )


# --- audit -----------------------------------------------------------------------------------------------


@dataclass
class AuditRow:
    event: object
    url: str
    target_url: str
    target_label: str


def audit_recent(*, with_system: bool = False) -> list[AuditRow]:
    """The newest events: people's (and API tokens') actions, and the system's too when asked."""
    from ersen_ops.audit import selectors as audit_selectors
    from ersen_ops.audit.choices import ActorKind

    kinds = None if with_system else [kind for kind in ActorKind if kind != ActorKind.SYSTEM]
    rows = []
    for e in audit_selectors.audit_recent(limit=AUDIT_EVENTS, kinds=kinds):
        target_url, target_label = _target(e.target_type_id, e.target_id, e.target_repr)
        rows.append(
            AuditRow(
                event=e, url=admin_url("audit", "auditevent", e.pk), target_url=target_url, target_label=target_label
            )
        )
    return rows


def _target(type_id, object_id, text: str) -> tuple[str, str]:
    """(admin URL, label) of a generic target, from the cached content type: no query per row."""
    if not type_id or not object_id:
        return "", text or "—"
    ct = ContentType.objects.get_for_id(type_id)
    return admin_url(ct.app_label, ct.model, object_id), text or f"{ct.name} {object_id}"


# --- the whole page --------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    now: datetime
    phase: str = ""
    status: PublicStatus | None = None
    in_progress: list[WindowRow] | None = None
    upcoming: list[WindowRow] | None = None
    incidents: list[LevelGroup] | None = None
    executions_active: list[ExecutionRow] | None = None
    executions_failed: list[ExecutionRow] | None = None
    deliveries_failed: list[DeliveryRow] | None = None
    deliveries_failed_total: int = 0
    notifications: NotificationHealth | None = None
    audit: list[AuditRow] | None = None
    audit_with_system: bool = False
    schedules: SchedulesHealth | None = None

    @property
    def headline(self) -> list[dict]:
        """What needs attention first, worst first ({"text", "level": "bad"|"warn"|"ok"}).

        P3/P4 incidents waiting for acknowledgement are sprint and backlog work, not alarms: they
        show only once their response time has passed."""
        from incidents import policy as incident_policy

        items = []
        gaps = self.notifications.gaps if self.notifications else []
        for gap in (g for g in gaps if g.blocking):
            items.append({"text": f"{gap.label} not configured", "level": "bad"})
        others = [g.label for g in gaps if not g.blocking]
        if others:
            items.append({"text": f"Not configured: {', '.join(others)}", "level": "warn"})
        for g in self.incidents or []:
            breached = sum(1 for r in g.rows if r.state == "breached")
            waiting = sum(1 for r in g.rows if r.state == "waiting")
            if breached:
                items.append({"text": f"{breached} {g.level} past the response SLA", "level": "bad"})
            if waiting and incident_policy.interrupts(g.level):  # the escalation table: the levels that alert
                items.append(
                    {
                        "text": f"{waiting} {g.level} waiting for acknowledgement",
                        "level": "bad" if incident_policy.pages(g.level) else "warn",
                    }
                )
        overdue = sum(1 for r in self.in_progress or [] if r.overdue)
        if overdue:
            items.append({"text": _count(overdue, "window past its ETA", "windows past their ETA"), "level": "bad"})
        late = sum(1 for r in self.upcoming or [] if r.late_start)
        if late:
            items.append(
                {
                    "text": _count(late, "scheduled window past its start", "scheduled windows past their start"),
                    "level": "warn",
                }
            )
        if self.in_progress:
            items.append(
                {"text": _count(len(self.in_progress), "window in progress", "windows in progress"), "level": "warn"}
            )
        if self.executions_failed:
            items.append(
                {
                    "text": _count(len(self.executions_failed), "runbook run failed", "runbook runs failed")
                    + " (24 h)",
                    "level": "warn",
                }
            )
        if self.deliveries_failed_total:
            items.append(
                {
                    "text": _count(
                        self.deliveries_failed_total,
                        "notification failed or skipped",
                        "notifications failed or skipped",
                    ),
                    "level": "warn",
                }
            )
        if self.schedules and self.schedules.paused_by:
            items.append({"text": f"All schedules paused by {self.schedules.paused_by}", "level": "warn"})
        if self.schedules and self.schedules.missed:
            items.append(
                {
                    "text": _count(self.schedules.missed, "scheduled run missed", "scheduled runs missed") + " (24 h)",
                    "level": "warn",
                }
            )
        if not items:
            items.append({"text": "Nothing needs attention right now.", "level": "ok"})
        return items


@dataclass(frozen=True)
class SchedulesHealth:
    paused_by: str  # "" when schedules run
    missed: int  # missed occurrences in the last 24 h


def schedules_health(*, now: datetime) -> SchedulesHealth:
    """The global pause and the misses of the last day (two queries)."""
    from scheduler.choices import Outcome
    from scheduler.models import Occurrence, SchedulerSwitch

    switch = SchedulerSwitch.objects.filter(id=1, paused=True).values_list("paused_by_name", flat=True).first()
    missed = Occurrence.objects.filter(outcome=Outcome.MISSED, due_at__gte=now - timedelta(hours=24)).count()
    return SchedulesHealth(paused_by=switch or "", missed=missed)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def dashboard(*, user, now: datetime, audit_with_system: bool = False) -> Dashboard:
    """Everything the control room shows, for this user (sections they may not view are left out)."""
    from ersen_ops.core.services import current_phase

    board = Dashboard(now=now, phase=current_phase(), audit_with_system=audit_with_system)
    if user.has_perm(PERMS["status"]):
        board.status = public_status(now=now)
    if user.has_perm(PERMS["windows"]):
        board.in_progress = windows_in_progress(now=now, user=user)
        board.upcoming = windows_upcoming(now=now, user=user, phase=board.phase)
    if user.has_perm(PERMS["incidents"]):
        board.incidents = open_incidents(now=now, user=user)
    if user.has_perm(PERMS["executions"]):
        board.executions_active = executions_active()
        board.executions_failed = executions_failed(now=now)
    if user.has_perm(PERMS["deliveries"]):
        board.deliveries_failed, board.deliveries_failed_total = deliveries_failed(now=now)
        board.notifications = notification_health(now=now, phase=board.phase)
    if user.has_perm(PERMS["audit"]):
        board.audit = audit_recent(with_system=audit_with_system)
    if user.has_perm(PERMS["schedules"]):
        board.schedules = schedules_health(now=now)
    return board
