"""State changes of the status app: components (audited), the cache version and calendar sequences.

The version and sequence functions run inside the caller's transaction (the receivers in `signals.py` call them on every
save of something the public status shows), so a rolled-back change bumps nothing and a
committed one is visible to the very next request in every process. They record no audit
event: they are bookkeeping of a cache, not decisions; the change that caused them is audited
by its own service.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError
from ersen_ops.status import policy
from ersen_ops.status.models import CalendarSequence, Component, StatusVersion
from ersen_ops.status.version_push import watch


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def status_version_bump() -> None:
    """Move the public status version (one UPDATE; creates the row if a test flush removed it), and
    have the uptime history record the public status once this transaction commits.

    This is the one place every change of the public status passes through (see `signals.py`); a
    writer that bypasses the signals (`QuerySet.update()`, `bulk_create()`) calls it itself.
    """
    status_version_bump_only()
    from ersen_ops.status.uptime.services import schedule_sync

    schedule_sync()


def status_version_bump_only() -> None:
    """Move the version without scheduling an interval sync (the sync itself uses this)."""
    watch.changed_here()  # this process reads the version from the database for a moment after the commit
    now_us = _now_us()
    updated = StatusVersion.objects.filter(pk=StatusVersion.SINGLETON).update(
        version=F("version") + 1, changed_at_us=Greatest(F("changed_at_us"), now_us)
    )
    if updated:
        return
    try:
        with transaction.atomic():
            StatusVersion.objects.create(pk=StatusVersion.SINGLETON, version=1, changed_at_us=now_us)
    except IntegrityError:  # created concurrently: bump that one
        StatusVersion.objects.filter(pk=StatusVersion.SINGLETON).update(
            version=F("version") + 1, changed_at_us=Greatest(F("changed_at_us"), now_us)
        )


def calendar_fingerprint(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@transaction.atomic
def calendar_sequence_sync(*, window_public_id: str, fields: dict) -> CalendarSequence:
    """Record what the window's VEVENT shows; bump its SEQUENCE when that changed. Idempotent."""
    fingerprint = calendar_fingerprint(fields)
    row = CalendarSequence.objects.select_for_update().filter(window_public_id=window_public_id).first()
    if row is None:
        try:
            with transaction.atomic():
                return CalendarSequence.objects.create(
                    window_public_id=window_public_id, sequence=0, fingerprint=fingerprint
                )
        except IntegrityError:
            row = CalendarSequence.objects.select_for_update().get(window_public_id=window_public_id)
    if row.fingerprint != fingerprint:
        row.sequence += 1
        row.fingerprint = fingerprint
        row.changed_at = timezone.now()
        row.save(update_fields=["sequence", "fingerprint", "changed_at"])
    return row


# --- components (the admin's "set a component's manual status", audited) --------------------------------------

COMPONENT_FIELDS = (
    "name",
    "description",
    "group",
    "is_group",
    "position",
    "public",
    "status",
    "showcase",
    "only_show_if_degraded",
    "start_date",
)


def component_state(component: Component) -> dict:
    state = {field: getattr(component, field) for field in COMPONENT_FIELDS}
    state["group"] = component.group.name if component.group_id else None
    state["start_date"] = component.start_date.isoformat() if component.start_date else None
    return state


def component_problems(component: Component) -> list[str]:
    return policy.component_problems(
        name=component.name,
        is_group=component.is_group,
        group_id=component.group_id,
        pk=component.pk,
        children=component.children.count() if component.pk else 0,
    )


@transaction.atomic
def component_save(*, actor, component: Component, before: dict | None = None) -> Component:
    """Create or edit a component (its manual status included), audited with what changed.

    The public status shown is never better than this manual status; incidents and maintenance can
    only make it worse (see `policy.component_status`).
    """
    problems = component_problems(component)
    if problems:
        raise DomainError("The component is not valid:", details=problems)
    try:
        component.full_clean()
    except ValidationError as exc:
        raise DomainError("The component is not valid:", details=[str(m) for m in exc.messages]) from None
    created = component.pk is None
    if created:
        component.save()
    else:  # never the automatic status: the checks own it, and this copy of the row may be older than theirs
        component.save(update_fields=[*COMPONENT_FIELDS, "updated_at"])
    after = component_state(component)
    before = before or {}
    changed = sorted(k for k in after if before.get(k) != after[k])
    if created or changed:
        record(
            actor=actor,
            action="status.component.created" if created else "status.component.updated",
            target=component,
            data={"before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed}},
        )
    return component


@transaction.atomic
def component_delete(*, actor, component: Component) -> None:
    from django.db.models import ProtectedError

    state = component_state(component)
    try:
        component.delete()
    except ProtectedError:
        raise DomainError(
            f"“{component.name}” is referenced by incidents, maintenance windows or child components; "
            "hide it (uncheck “public”) instead of deleting it."
        ) from None
    record(
        actor=actor, action="status.component.deleted", target=None, data={"before": state, "component": state["name"]}
    )


# --- the automatic status (what health checks say; only the checks app calls this) ------------------------------

AUTOMATIC_ACTOR = "system:checks"


@transaction.atomic
def component_set_automatic_status(
    *, component_ids, status: str, reason: str, actor: str = AUTOMATIC_ACTOR, now=None
) -> list[int]:
    """Set the automatic status of the given components (the ones whose checks say so). Idempotent.

    Returns the pks that changed; each change is audited (before/after and the reason, e.g. the failing check).
    The public status is the worst of manual, incident impact, window and this (`policy.component_status`).
    """
    if status not in policy.COMPONENT_SEVERITY:
        raise DomainError(f"Unknown component status {status!r}; choose one of {', '.join(policy.COMPONENT_SEVERITY)}.")
    now = now or timezone.now()
    changed = []
    for component in Component.objects.select_for_update().filter(pk__in=list(component_ids)).order_by("pk"):
        if component.automatic_status == status:
            continue
        before = component.automatic_status
        component.automatic_status = status
        component.automatic_status_changed_at = now
        component.save(update_fields=["automatic_status", "automatic_status_changed_at"])
        record(
            actor=actor,
            action="status.component.automatic_status_changed",
            target=component,
            data={"before": {"automatic_status": before}, "after": {"automatic_status": status}, "reason": reason},
        )
        changed.append(component.pk)
    return changed
