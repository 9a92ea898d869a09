"""Shared by the runbook services: actor names, the task name, who may act, the failure alert."""

from __future__ import annotations

from runbooks import policy
from runbooks.models import RunbookExecution

RUN_TASK = "runbooks.tasks.run_execution"
SYSTEM_WORKER = "system:runbook-worker"
SYSTEM_REAPER = "system:runbook-reaper"
SYSTEM_SWEEPER = "system:runbook-sweeper"


class LostClaim(Exception):
    """The execution is no longer this worker's (reaped as lost, or finished): stop without writing more."""


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
