"""Runbooks themselves: their steps validated against the task library, saved and audited."""

from __future__ import annotations

from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError
from ersen_ops.core.kit import require
from runbooks import policy, selectors
from runbooks.models import Runbook, RunbookStep


def runbook_state(runbook: Runbook) -> dict:
    return {
        "name": runbook.name,
        "slug": runbook.slug,
        "description": runbook.description,
        "default_host_role": runbook.default_host_role,
        "enabled": runbook.enabled,
        "steps": selectors.runbook_steps(runbook) if runbook.pk else [],
    }


def runbook_validate_steps(steps: list[dict]) -> None:
    if not steps:
        raise DomainError("A runbook needs at least one step.")
    for order, step in enumerate(steps, start=1):
        try:
            policy.validate_step(
                task=step["task"],
                params=step.get("params") or {},
                timeout_seconds=step.get("timeout_seconds"),
                max_timeout=selectors.max_step_timeout(),
                retries=step.get("retries") or 0,
                retry_delay=step.get("retry_delay"),
            )
        except DomainError as exc:
            raise DomainError(f"Step {order}: {exc}") from None


def runbook_save(*, actor, runbook: Runbook, steps: list[dict], before: dict | None = None) -> Runbook:
    """Create or change a runbook with its steps (validated against the task library)."""
    require(
        actor,
        "runbooks.change_runbook" if runbook.pk else "runbooks.add_runbook",
        what="editing runbooks",
        nobody=False,
    )
    runbook_validate_steps(steps)
    created = runbook.pk is None
    with transaction.atomic():
        runbook.full_clean()
        runbook.save()
        runbook.steps.all().delete()
        for order, step in enumerate(steps, start=1):
            RunbookStep.objects.create(
                runbook=runbook,
                order=order,
                task=step["task"],
                params=step.get("params") or {},
                timeout_seconds=step.get("timeout_seconds"),
                retries=step.get("retries") or 0,
                retry_delay=step["retry_delay"] if step.get("retry_delay") is not None else 10,
            )
        runbook_record_change(actor=actor, runbook=runbook, before=before, created=created)
    return runbook


def runbook_record_change(*, actor, runbook: Runbook, before: dict | None, created: bool) -> None:
    """Audit a runbook change (the admin saves the steps through its inline, validated by the same policy)."""
    record(
        actor=actor,
        action="runbooks.runbook.created" if created else "runbooks.runbook.changed",
        target=runbook,
        data={"before": before or {}, "after": runbook_state(runbook)},
    )
