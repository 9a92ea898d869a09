"""The reaper: running executions whose worker stopped sending heartbeats become lost."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from ersen_ops.audit.services import record
from ersen_ops.core.kit import lock, now_or
from runbooks import policy
from runbooks.choices import (
    ExecutionStatus,
    StepStatus,
)
from runbooks.models import RunbookExecution
from runbooks.services.common import SYSTEM_REAPER, _notify_failure
from runbooks.services.groups import _advance_group_on_commit
from runbooks.services.waiting import _kick_host_on_commit


def executions_reap_lost(*, now: datetime | None = None) -> list[int]:
    """Mark running executions whose worker stopped sending heartbeats as lost, with an explanation."""
    now = now_or(now)
    lost_after = settings.OPS_RUNBOOK_LOST_AFTER
    cutoff = policy.lost_cutoff(now, lost_after)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    reaped = []
    for pk in list(RunbookExecution.objects.filter(stale, status=ExecutionStatus.RUNNING).values_list("pk", flat=True)):
        with transaction.atomic():
            execution = lock(pk, model=RunbookExecution)
            last = execution.heartbeat_at or execution.started_at
            if execution.status != ExecutionStatus.RUNNING or (last and last >= cutoff):
                continue
            silent = round((now - last).total_seconds()) if last else None
            running_step = execution.steps.filter(status=StepStatus.RUNNING).order_by("-order").first()
            error = (
                f"Lost: the worker {execution.worker or '(unknown)'} stopped sending heartbeats "
                f"(last one at {last:%Y-%m-%d %H:%M:%S} UTC, {silent} s before the reaper ran; the limit is "
                f"{lost_after} s). It probably died (kill -9, out of memory, restart), or lost the database for longer "
                "than OPS_DB_RETRY_SECONDS (it then stops its command on the host itself)."
            )
            if running_step is not None:
                error += (
                    f" It was running step {running_step.order} ({running_step.label}); that command was bounded on "
                    f"the host by `timeout {running_step.timeout_seconds or ''}`. Check the host before retrying."
                )
            if execution.cancel_requested_at:
                error += f" Cancellation had been requested by {execution.cancel_requested_by_name}."
            before = {"status": execution.status}
            execution.status = ExecutionStatus.LOST
            execution.finished_at = now
            execution.error = error
            execution.save(update_fields=["status", "finished_at", "error"])
            execution.steps.filter(status=StepStatus.RUNNING).update(
                status=StepStatus.LOST, finished_at=now, error="The worker died while this step ran."
            )
            record(
                actor=SYSTEM_REAPER,
                action="runbooks.execution.lost",
                target=execution,
                data={
                    "before": before,
                    "after": {"status": ExecutionStatus.LOST},
                    "error": error,
                    "worker": execution.worker,
                    "last_heartbeat": last,
                    "lost_after_seconds": lost_after,
                },
            )
            _notify_failure(execution)
            _kick_host_on_commit(execution.host_id)
            _advance_group_on_commit(execution)
        reaped.append(pk)
    return reaped
