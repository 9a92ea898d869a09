"""Reads of maintenance data, with the joins and annotations that keep query counts constant."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, Prefetch, Q, QuerySet

from maintenance.choices import ACTIVE_STATUSES, ChecklistPhase, WindowStatus
from maintenance.models import Approval, ChecklistItem, FreezePeriod, MaintenanceWindow
from maintenance.policy import FreezeFacts, GateFacts, GateWindow, ItemFacts, WindowFacts


def window_list() -> QuerySet[MaintenanceWindow]:
    """Windows with their owner and checklist progress (items / done) annotated: one query for a page."""
    return MaintenanceWindow.objects.select_related("owner", "on_call_engineer").annotate(
        checklist_total=Count("checklist_items", distinct=True),
        checklist_done=Count("checklist_items", filter=Q(checklist_items__done_at__isnull=False), distinct=True),
    )


def window_facts(window: MaintenanceWindow, *, component_ids=None, justification: str | None = None) -> WindowFacts:
    if component_ids is None:
        components = list(window.components.all()) if window.pk else []
        component_ids = [c.pk for c in components]
        names = {c.pk: c.name for c in components}
    else:
        from ersen_ops.status.models import Component

        names = dict(Component.objects.filter(pk__in=component_ids).values_list("pk", "name"))
    return WindowFacts(
        type=window.type,
        planned_start=window.planned_start,
        planned_end=window.planned_end,
        components=frozenset(component_ids),
        title=window.title,
        public_id=window.public_id,
        status=window.status,
        justification=window.emergency_justification if justification is None else justification,
        component_names=names,
    )


def window_state_facts(window: MaintenanceWindow) -> WindowFacts:
    """The window's facts without its components (no query): what the rules of a non-draft's actions read."""
    return WindowFacts(
        type=window.type,
        planned_start=window.planned_start,
        planned_end=window.planned_end,
        title=window.title,
        public_id=window.public_id,
        status=window.status,
        justification=window.emergency_justification,
    )


def windows_overlapping(*, start: datetime, end: datetime, component_ids, exclude_pk=None) -> list[WindowFacts]:
    """Scheduled or in-progress windows on any of these components whose planned time overlaps [start, end)."""
    if not component_ids:
        return []
    qs = (
        MaintenanceWindow.objects.filter(
            status__in=ACTIVE_STATUSES,
            components__in=list(component_ids),
            planned_start__lt=end,
            planned_end__gt=start,
        )
        .exclude(pk=exclude_pk)
        .distinct()
        .prefetch_related("components")
    )
    return [window_facts(w) for w in qs]


def freezes_overlapping(*, start: datetime, end: datetime) -> list[FreezeFacts]:
    return [
        FreezeFacts(name=f.name, start=f.start, end=f.end)
        for f in FreezePeriod.objects.filter(start__lt=end, end__gt=start)
    ]


def checklist_items(window: MaintenanceWindow) -> list[ChecklistItem]:
    """The window's items with every approval (live and revoked) and its approver, in one round of queries."""
    return list(
        window.checklist_items.all().prefetch_related(
            Prefetch(
                "approvals",
                queryset=Approval.objects.select_related("user", "evidence_type", "revocation").order_by(
                    "approved_at", "id"
                ),
            )
        )
    )


def item_facts(items) -> list[ItemFacts]:
    return [ItemFacts(text=i.text, phase=i.phase, done=i.done_at is not None) for i in items]


def checklist_by_phase(window: MaintenanceWindow) -> list[tuple[str, str, list[ChecklistItem]]]:
    items = checklist_items(window)
    return [
        (phase.value, phase.label, sorted((i for i in items if i.phase == phase), key=lambda i: (i.order, i.id)))
        for phase in ChecklistPhase
    ]


def window_deliveries(window: MaintenanceWindow):
    from ersen_ops.notifications.models import NotificationDelivery

    ct = ContentType.objects.get_for_model(MaintenanceWindow)
    return NotificationDelivery.objects.filter(related_type=ct, related_id=str(window.pk)).order_by("created_at", "id")


def windows_due_for_reminder(*, now: datetime, lead) -> QuerySet[MaintenanceWindow]:
    from maintenance.choices import MaintenanceType

    return MaintenanceWindow.objects.filter(
        type=MaintenanceType.ROUTINE,
        status=WindowStatus.SCHEDULED,
        reminder_sent_at__isnull=True,
        planned_start__gt=now,
        planned_start__lte=now + lead,
    )


def windows_past_eta(*, now: datetime) -> QuerySet[MaintenanceWindow]:
    """In-progress windows past their ETA whose overrun of this ETA has not been announced yet."""
    return MaintenanceWindow.objects.filter(status=WindowStatus.IN_PROGRESS, eta__lt=now).exclude(
        overdue_notified_eta=F("eta")
    )


def in_progress_windows_covering(components) -> QuerySet[MaintenanceWindow]:
    """In-progress windows on any of `components` (a queryset or list of components), earliest first: what
    other apps (runbooks' window rule) ask maintenance instead of filtering its states themselves."""
    return (
        MaintenanceWindow.objects.filter(status=WindowStatus.IN_PROGRESS, components__in=components)
        .distinct()
        .order_by("planned_start")
    )


def person(user):
    """A user as the policy sees them (id, name, whether they can still log in to the admin)."""
    from maintenance.policy import Person

    return Person(id=user.pk, name=user.get_username(), active=user.is_active and user.is_staff)


def approvers() -> list:
    """Active staff users who may approve checklist items (through a role, their own permissions, or superuser)."""
    from django.contrib.auth import get_user_model

    users = get_user_model()._default_manager.with_perm(
        "maintenance.approve_checklistitem",
        is_active=True,
        include_superusers=True,
        backend="django.contrib.auth.backends.ModelBackend",
    )
    return [person(u) for u in users.filter(is_staff=True).order_by("username")]


def components_by_name(names) -> tuple[list, list[str]]:
    """(components, unknown names) for names as written by a person or CI: a component's name in any case, or its
    public id (cmp_…)."""
    from ersen_ops.status.models import Component

    wanted = [n.strip() for n in names if n and n.strip()]
    if not wanted:
        return [], []
    query = Q()
    for name in wanted:
        query |= Q(name__iexact=name) | Q(public_id=name)
    found = list(Component.objects.filter(query).order_by("position", "name"))
    unknown = [n for n in wanted if not any(c.name.lower() == n.lower() or c.public_id == n for c in found)]
    return found, unknown


def deploy_gate_facts(*, components, window: str = "", now: datetime, phase: str) -> GateFacts:
    """What the deploy gate looks at: the components, the in-progress windows on them (and the named window, in
    whatever state), their open "before" items, and the freezes in force at `now`. Four queries."""
    found, unknown = components_by_name(components)
    windows = MaintenanceWindow.objects.filter(
        Q(status=WindowStatus.IN_PROGRESS, components__in=found) | Q(public_id=window or None)
    ).distinct()
    windows = windows.prefetch_related(
        "components",
        Prefetch(
            "checklist_items",
            queryset=ChecklistItem.objects.filter(phase=ChecklistPhase.BEFORE, done_at__isnull=True),
            to_attr="open_before",
        ),
    )
    return GateFacts(
        phase=phase,
        components=tuple(c.name for c in found),
        windows=tuple(
            GateWindow(
                public_id=w.public_id,
                title=w.title,
                type=w.type,
                status=w.status,
                components=frozenset(c.name for c in w.components.all()),
                open_before_items=tuple(i.text for i in sorted(w.open_before, key=lambda i: (i.order, i.id))),
                justification=w.emergency_justification,
                eta=w.eta,
            )
            for w in windows
        ),
        freezes=tuple(
            FreezeFacts(name=f.name, start=f.start, end=f.end)
            for f in FreezePeriod.objects.filter(start__lte=now, end__gt=now)
        ),
        window=window,
        unknown_components=tuple(unknown),
    )


def windows_in_progress_on(component_ids) -> list[tuple[int, str, str, frozenset]]:
    """(id, public id, title, component ids) of the in-progress windows on any of these components: two queries."""
    if not component_ids:
        return []
    windows = (
        MaintenanceWindow.objects.filter(status=WindowStatus.IN_PROGRESS, components__in=list(component_ids))
        .distinct()
        .prefetch_related("components")
    )
    return [(w.pk, w.public_id, w.title, frozenset(c.pk for c in w.components.all())) for w in windows]


def component_ids_in_maintenance(component_ids=None) -> set[int]:
    """Components with a window in progress on them now (for the checks: failures there are maintenance)."""
    through = MaintenanceWindow.components.through
    rows = through.objects.filter(maintenancewindow__status=WindowStatus.IN_PROGRESS)
    if component_ids is not None:
        rows = rows.filter(component_id__in=list(component_ids))
    return set(rows.values_list("component_id", flat=True))
