"""Runs on host groups from the worker's side: the run starts with its first host, and advances batch by batch.

`group_run_advance` is the one place that decides what a group run does next (`policy.group_run_next`): it is
called after commit whenever an execution of the run ends (finish, cancel, the reaper's "lost"), and by the
reaper's periodic task for every active run, so a worker that died between its commit and the call cannot stall
a run. It locks the group run row, so two calls at once decide once; a second call finds nothing to do.
Lock order: a group run row is always locked before its executions' rows, never while one is held.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.kit import lock, now_or, transition_or_raise
from runbooks import policy
from runbooks.choices import (
    GROUP_RUN_ACTIVE_STATUSES,
    GROUP_RUN_FINAL_STATUSES,
    GROUP_RUN_TRANSITIONS,
    ExecutionStatus,
    GroupRunAction,
    GroupRunStatus,
)
from runbooks.models import GroupRun, RunbookExecution
from runbooks.services.waiting import _enqueue

SYSTEM_GROUP_RUNNER = "system:runbook-group-runner"


def _advance_group_on_commit(execution: RunbookExecution) -> None:
    if execution.group_run_id:
        group_run_id = execution.group_run_id
        transaction.on_commit(lambda: group_run_advance(group_run_id=group_run_id))


def _set_status(run: GroupRun, status: str, verb: str) -> dict:
    transition_or_raise(run, status, GROUP_RUN_TRANSITIONS, verb, noun="group run")
    before = {"status": run.status}
    run.status = status
    return before


def group_run_mark_started(*, group_run_id: int, now: datetime | None = None) -> bool:
    """queued → running when its first host's execution starts. False if it had started (or ended) already."""
    now = now_or(now)
    with transaction.atomic():
        run = lock(group_run_id, model=GroupRun)
        if run.status != GroupRunStatus.QUEUED:
            return False
        before = _set_status(run, GroupRunStatus.RUNNING, "start")
        run.started_at = now
        run.save(update_fields=["status", "started_at"])
        record(
            actor=SYSTEM_GROUP_RUNNER,
            action=GroupRunAction.STARTED,
            target=run,
            data={"before": before, "after": {"status": run.status}, "batch": run.current_batch},
        )
    return True


def _start_batch(run: GroupRun, batch: int, now: datetime, *, actor=SYSTEM_GROUP_RUNNER, reason: str = "") -> list:
    """Queue every pending execution of `batch` (each still waits for its host's earlier runs, first come first
    served)."""
    pending = list(
        run.executions.select_for_update().filter(batch=batch, status=ExecutionStatus.PENDING).order_by("pk")
    )
    for execution in pending:
        execution.status = ExecutionStatus.QUEUED
        execution.save(update_fields=["status"])
        _enqueue(execution, now)
    before = {"current_batch": run.current_batch}
    run.current_batch = batch
    run.save(update_fields=["current_batch"])
    hosts = [e.host_snapshot.get("name") for e in pending]
    record(
        actor=actor,
        action=GroupRunAction.BATCH_STARTED,
        target=run,
        data={
            "before": before,
            "after": {"current_batch": batch},
            "batch": batch,
            "batches_total": run.batches_total,
            "hosts": hosts,
            "executions": [e.pk for e in pending],
            "reason": reason,
        },
    )
    return pending


def _cancel_pending(run: GroupRun, *, reason: str, actor, actor_name: str, now: datetime) -> list[int]:
    """pending → cancelled for every execution of `run` not started yet, each with the reason, audited."""
    cancelled = []
    for execution in run.executions.select_for_update().filter(status=ExecutionStatus.PENDING).order_by("pk"):
        execution.status = ExecutionStatus.CANCELLED
        execution.finished_at = now
        execution.cancel_requested_at = now
        execution.cancel_requested_by_name = actor_name
        execution.cancel_reason = reason
        execution.error = reason[:10000]
        execution.save(
            update_fields=[
                "status",
                "finished_at",
                "cancel_requested_at",
                "cancel_requested_by_name",
                "cancel_reason",
                "error",
            ]
        )
        record(
            actor=actor,
            action="runbooks.execution.cancelled",
            target=execution,
            data={
                "before": {"status": ExecutionStatus.PENDING},
                "after": {"status": ExecutionStatus.CANCELLED},
                "reason": reason,
                "group_run": run.pk,
            },
        )
        cancelled.append(execution.pk)
    return cancelled


def group_run_advance(*, group_run_id: int, now: datetime | None = None) -> str:
    """Decide and do the next thing of a group run; idempotent. Returns the decision's action ("final" if ended)."""
    now = now_or(now)
    with transaction.atomic():
        run = lock(group_run_id, model=GroupRun)
        if run.status in GROUP_RUN_FINAL_STATUSES:
            return "final"
        statuses = list(run.executions.values_list("batch", "status"))
        decision = policy.group_run_next(
            statuses=statuses,
            current_batch=run.current_batch,
            batches_total=run.batches_total,
            max_failures=run.max_failures,
        )
        if decision.action == "wait":
            return decision.action
        if run.status == GroupRunStatus.QUEUED:
            # Every host of its first batch ended without the start being recorded (e.g. each cancelled).
            run.started_at = run.started_at or now
            before = _set_status(run, GroupRunStatus.RUNNING, "start")
            run.save(update_fields=["status", "started_at"])
            record(
                actor=SYSTEM_GROUP_RUNNER,
                action=GroupRunAction.STARTED,
                target=run,
                data={"before": before, "after": {"status": run.status}, "batch": run.current_batch},
            )
        if decision.action == "start_batch":
            _start_batch(run, decision.batch, now, reason=decision.reason)
            return decision.action
        if decision.action == "stop":
            reason = decision.reason
            cancelled = _cancel_pending(
                run, reason=reason, actor=SYSTEM_GROUP_RUNNER, actor_name=SYSTEM_GROUP_RUNNER, now=now
            )
            before = _set_status(run, GroupRunStatus.FAILED, "stop")
            run.finished_at = now
            run.outcome = f"Stopped after batch {run.current_batch} of {run.batches_total}: {reason}."
            run.save(update_fields=["status", "finished_at", "outcome"])
            record(
                actor=SYSTEM_GROUP_RUNNER,
                action=GroupRunAction.STOPPED,
                target=run,
                data={
                    "before": before,
                    "after": {"status": run.status},
                    "reason": reason,
                    "failed_hosts": decision.failed_hosts,
                    "max_failures": run.max_failures,
                    "not_started": cancelled,
                },
            )
            _record_finished(run, before)
            return decision.action
        status = GroupRunStatus.SUCCEEDED if decision.succeeded else GroupRunStatus.FAILED
        before = _set_status(run, status, "finish")
        run.finished_at = now
        run.outcome = decision.reason[:1].upper() + decision.reason[1:] + "."
        run.save(update_fields=["status", "finished_at", "outcome"])
        _record_finished(run, before)
        return decision.action


def _record_finished(run: GroupRun, before: dict) -> None:
    record(
        actor=SYSTEM_GROUP_RUNNER,
        action=GroupRunAction.FINISHED,
        target=run,
        data={
            "before": before,
            "after": {"status": run.status},
            "outcome": run.outcome,
            "duration_seconds": round((run.finished_at - run.requested_at).total_seconds(), 3),
        },
    )


def group_runs_advance(*, now: datetime | None = None) -> list[int]:
    """Safety net (with the reaper): advance every active group run. Returns the ids that did something."""
    moved = []
    for pk in list(GroupRun.objects.filter(status__in=GROUP_RUN_ACTIVE_STATUSES).values_list("pk", flat=True)):
        if group_run_advance(group_run_id=pk, now=now) not in ("wait", "final"):
            moved.append(pk)
    return moved
