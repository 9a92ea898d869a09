"""Executions from the worker's side: claim, heartbeat, steps, finish (each a short transaction)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max

from ersen_ops.audit.services import record
from ersen_ops.core.db import db_retry
from ersen_ops.core.kit import lock, now_or, transition_or_raise
from runbooks import selectors
from runbooks.choices import (
    TRANSITIONS,
    ExecutionStatus,
    StepKind,
    StepStatus,
)
from runbooks.models import ExecutionStep, Host, RunbookExecution
from runbooks.output import CappedBuffer
from runbooks.services.backups import _record_backup_inventory
from runbooks.services.common import SYSTEM_WORKER, LostClaim, _notify_failure
from runbooks.services.evidence import _record_backup_evidence
from runbooks.services.groups import _advance_group_on_commit, group_run_mark_started
from runbooks.services.waiting import _enqueue, _kick_host_on_commit


@dataclass(frozen=True)
class Claim:
    token: str | None
    reason: str  # claimed, not_queued, host_busy, behind, missing
    status: str = ""
    waiting_for: int | None = None


def execution_claim(*, execution_id: int, task_id: str = "", worker: str = "", now: datetime | None = None) -> Claim:
    """queued → running with a conditional UPDATE. Zero rows means someone else has it: run nothing."""
    token = uuid.uuid4().hex  # chosen once, so a retry after a lost commit recognises its own claim
    return _claim_retrying(execution_id=execution_id, task_id=task_id, worker=worker, now=now, token=token)


@db_retry(what="claiming a runbook execution")
def _claim_retrying(*, execution_id: int, task_id: str, worker: str, now: datetime | None, token: str) -> Claim:
    try:
        return _claim(execution_id=execution_id, task_id=task_id, worker=worker, now=now_or(now), token=token)
    except IntegrityError:
        # The database's one-running-per-host constraint caught a race the host lock did not.
        return Claim(None, "host_busy", ExecutionStatus.QUEUED)


def _claim(*, execution_id: int, task_id: str, worker: str, now: datetime, token: str) -> Claim:
    host_id = RunbookExecution.objects.filter(pk=execution_id).values_list("host_id", flat=True).first()
    if host_id is None:
        return Claim(None, "missing")
    with transaction.atomic():
        # Serialise claims per host (SQLite's IMMEDIATE transactions already serialise writers).
        list(Host.objects.select_for_update().filter(pk=host_id).values_list("pk", flat=True))
        row = RunbookExecution.objects.filter(pk=execution_id).values("status", "requested_at", "claim_token").first()
        if row["status"] == ExecutionStatus.RUNNING and row["claim_token"] == token:
            return Claim(token, "claimed", ExecutionStatus.RUNNING)  # our first attempt committed; its answer was lost
        if row["status"] != ExecutionStatus.QUEUED:
            execution = RunbookExecution.objects.get(pk=execution_id)
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.execution.delivery_ignored",
                target=execution,
                data={
                    "status": row["status"],
                    "task_id": task_id,
                    "worker": worker,
                    "note": "the task was delivered again but the execution is no longer queued: nothing was run",
                },
            )
            return Claim(None, "not_queued", row["status"])
        running = selectors.execution_running_on(host_id=host_id)
        if running:
            return Claim(None, "host_busy", ExecutionStatus.QUEUED, running)
        this = RunbookExecution(pk=execution_id, requested_at=row["requested_at"])
        ahead = selectors.executions_waiting(host_id=host_id, ahead_of=this).first()
        if ahead is not None:
            _enqueue(ahead, now)  # first come, first served on a host
            return Claim(None, "behind", ExecutionStatus.QUEUED, ahead.pk)
        updated = RunbookExecution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED).update(
            status=ExecutionStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            claim_token=token,
            task_id=(task_id or "")[:64],
            worker=(worker or "")[:200],
        )
        if updated == 0:
            return Claim(None, "not_queued")
        execution = RunbookExecution.objects.get(pk=execution_id)
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.started",
            target=execution,
            data={
                "before": {"status": ExecutionStatus.QUEUED},
                "after": {"status": ExecutionStatus.RUNNING},
                "worker": worker,
                "task_id": task_id,
                "queued_seconds": round((now - execution.requested_at).total_seconds(), 3),
            },
        )
        if execution.group_run_id:
            # After commit, in its own transaction: the group run row is locked after, never while, this one.
            group_run_id = execution.group_run_id
            transaction.on_commit(lambda: group_run_mark_started(group_run_id=group_run_id, now=now))
    return Claim(token, "claimed", ExecutionStatus.RUNNING)


@db_retry
def execution_heartbeat(*, execution_id: int, token: str, now: datetime | None = None) -> bool:
    return (
        RunbookExecution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING, claim_token=token).update(
            heartbeat_at=now_or(now)
        )
        == 1
    )


_STEP_ACTIONS = {
    StepKind.CONNECT: ("runbooks.host.connecting", "runbooks.host.connected", "runbooks.host.connect_failed"),
    StepKind.COMMAND: ("runbooks.command.started", "runbooks.command.exited", "runbooks.command.exited"),
    StepKind.DECISION: (None, "runbooks.step.decided", "runbooks.step.decided"),
    StepKind.CHECK: (None, "runbooks.check.passed", "runbooks.check.failed"),
    StepKind.VERIFY: (None, "runbooks.check.passed", "runbooks.check.failed"),
    StepKind.TRANSFER: ("runbooks.transfer.started", "runbooks.transfer.finished", "runbooks.transfer.failed"),
}


@db_retry
def execution_step_begin(
    *,
    execution_id: int,
    token: str,
    plan_index: int,
    task: str,
    kind: str,
    label: str,
    command: str = "",
    timeout: int | None = None,
    attempt: int = 1,
    now: datetime | None = None,
) -> ExecutionStep:
    now = now_or(now)
    with transaction.atomic():
        execution = lock(execution_id, model=RunbookExecution)
        if execution.status != ExecutionStatus.RUNNING or execution.claim_token != token:
            raise LostClaim(execution.status)
        order = (execution.steps.aggregate(m=Max("order"))["m"] or 0) + 1
        step = ExecutionStep.objects.create(
            execution=execution,
            order=order,
            plan_index=plan_index,
            task=task,
            kind=kind,
            label=label[:300],
            command=command,
            status=StepStatus.RUNNING,
            started_at=now,
            timeout_seconds=timeout,
            attempt=attempt,
        )
        action = _STEP_ACTIONS[kind][0]
        if action:
            record(
                actor=SYSTEM_WORKER,
                action=action,
                target=execution,
                data={
                    "step": order,
                    "label": step.label,
                    "command": command,
                    "timeout": timeout,
                    "attempt": attempt,
                },
            )
    return step


def _output_fields(stdout: CappedBuffer | None, stderr: CappedBuffer | None) -> dict:
    fields = {}
    if stdout is not None:
        fields.update(stdout=stdout.text(), stdout_bytes=stdout.total, stdout_dropped=stdout.dropped)
    if stderr is not None:
        fields.update(stderr=stderr.text(), stderr_bytes=stderr.total, stderr_dropped=stderr.dropped)
    return fields


@db_retry
def execution_step_output(*, step: ExecutionStep, stdout: CappedBuffer, stderr: CappedBuffer) -> None:
    """Store the output captured so far (capped), while the command runs."""
    ExecutionStep.objects.filter(pk=step.pk).update(**_output_fields(stdout, stderr))


@db_retry
def execution_step_finish(
    *,
    step: ExecutionStep,
    status: str,
    exit_code: int | None = None,
    error: str = "",
    detail: dict | None = None,
    stdout: CappedBuffer | None = None,
    stderr: CappedBuffer | None = None,
    now: datetime | None = None,
) -> ExecutionStep:
    now = now_or(now)
    fields = {"status": status, "finished_at": now, "exit_code": exit_code, "error": error[:5000]}
    if detail is not None:
        fields["detail"] = detail
    fields.update(_output_fields(stdout, stderr))
    with transaction.atomic():
        ExecutionStep.objects.filter(pk=step.pk).update(**fields)
        for key, value in fields.items():
            setattr(step, key, value)
        ok = status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        action = _STEP_ACTIONS[step.kind][1 if ok else 2]
        record(
            actor=SYSTEM_WORKER,
            action=action,
            target=step.execution,
            data={
                "step": step.order,
                "label": step.label,
                "command": step.command,
                "status": status,
                "exit_code": exit_code,
                "duration_seconds": round((now - step.started_at).total_seconds(), 3),
                "stdout_bytes": step.stdout_bytes,
                "stderr_bytes": step.stderr_bytes,
                "stdout_dropped": step.stdout_dropped,
                "stderr_dropped": step.stderr_dropped,
                "error": error[:1000],
                "detail": detail or {},
            },
        )
    return step


@db_retry
def execution_finish(
    *,
    execution_id: int,
    token: str,
    status: str,
    result: dict | None = None,
    error: str = "",
    now: datetime | None = None,
) -> bool:
    """running → a final state, in one short transaction. False if the run is no longer this worker's."""
    now = now_or(now)
    with transaction.atomic():
        execution = (
            RunbookExecution.objects.select_for_update(of=("self",)).select_related("window").get(pk=execution_id)
        )
        if execution.status != ExecutionStatus.RUNNING or execution.claim_token != token:
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.execution.finish_ignored",
                target=execution,
                data={
                    "status": execution.status,
                    "would_be": status,
                    "error": error[:1000],
                    "note": "the execution was no longer this worker's (reaped or finished elsewhere)",
                },
            )
            return False
        transition_or_raise(execution, status, TRANSITIONS, "finish", noun="execution")
        before = {"status": execution.status}
        execution.status = status
        execution.finished_at = now
        execution.heartbeat_at = now
        execution.result = result or {}
        execution.error = error[:10000]
        execution.save(update_fields=["status", "finished_at", "heartbeat_at", "result", "error"])
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.cancelled"
            if status == ExecutionStatus.CANCELLED
            else "runbooks.execution.finished",
            target=execution,
            data={
                "before": before,
                "after": {"status": status},
                "error": execution.error,
                "cancelled_by": execution.cancel_requested_by_name,
                "duration_seconds": round((now - execution.started_at).total_seconds(), 3)
                if execution.started_at
                else None,
            },
        )
        if execution.result:
            record(actor=SYSTEM_WORKER, action="runbooks.execution.result", target=execution, data=execution.result)
        _record_backup_inventory(execution)  # the backup inventory, from the run's verified result
        _record_backup_evidence(execution)  # runbooks decides whether it is a verified backup
        if status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
            _notify_failure(execution)
        _kick_host_on_commit(execution.host_id)
        _advance_group_on_commit(execution)
    return True
