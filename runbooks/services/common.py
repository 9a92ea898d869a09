"""Shared by the runbook services: actor names, the task name, who may act, the failure alert."""

from __future__ import annotations

from ersen_ops.audit.services import actor_fields
from ersen_ops.core.errors import PermissionRefused
from runbooks import policy
from runbooks.models import RunbookExecution

RUN_TASK = "runbooks.tasks.run_execution"
SYSTEM_WORKER = "system:runbook-worker"
SYSTEM_REAPER = "system:runbook-reaper"
SYSTEM_SWEEPER = "system:runbook-sweeper"


class LostClaim(Exception):
    """The execution is no longer this worker's (reaped as lost, or finished): stop without writing more."""


def _require(actor, perm: str, what: str) -> None:
    user, _ = actor_fields(actor)
    if user is None:
        if isinstance(actor, str):
            return  # a named system actor (CLI, worker, sweeper)
        raise PermissionRefused(f"{what} needs a logged-in user with the permission {perm}.")
    if not user.has_perm(perm):
        raise PermissionRefused(f"Your role does not allow {what} (it needs the permission {perm}).")


def _notify_failure(execution: RunbookExecution) -> None:
    from ersen_ops.notifications.services import notify

    status = execution.get_status_display().lower()
    notify(
        event="runbook.execution.failed",
        channels=policy.FAILURE_ALERT_CHANNELS,
        subject=f"Runbook “{execution.runbook_name}” {status} on {execution.host_snapshot.get('name', '')} (#{execution.pk})",
        body=f"{execution.error or status}\nRequested by {execution.requested_by_name}.",
        related=execution,
        actor=SYSTEM_WORKER,
        dedup_key=f"runbook-execution-{execution.pk}",
        severity="warning",
    )
