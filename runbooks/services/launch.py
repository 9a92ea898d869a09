"""Executions requested by people and the CLI: launch, retry, cancel."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError, InvalidTransition
from ersen_ops.core.kit import lock, now_or, require
from runbooks import library, policy, selectors
from runbooks.choices import (
    ExecutionStatus,
    LaunchChannel,
)
from runbooks.models import Host, Runbook, RunbookExecution
from runbooks.services.groups import _advance_group_on_commit
from runbooks.services.waiting import _enqueue, _kick_host_on_commit


def execution_launch(
    *,
    actor,
    runbook: Runbook,
    host: Host,
    window=None,
    justification: str = "",
    overrides: dict | None = None,
    via: str = LaunchChannel.ADMIN,
    retry_of: RunbookExecution | None = None,
    expected_digest: str | None = None,
    now: datetime | None = None,
) -> RunbookExecution:
    """Request a run. Validates everything that can be validated before connecting, snapshots the plan, queues it."""
    require(actor, "runbooks.run_runbook", what="launching runbooks", nobody=False)
    now = now_or(now)
    if not runbook.enabled:
        raise DomainError(f"Runbook “{runbook.name}” is disabled.")
    preview = selectors.execution_preview(runbook=runbook, host=host, overrides=overrides, window=window)
    if retry_of is not None:
        # A retry runs the same plan as the run it retries (re-validated), on the host as it is now.
        preview.plan = _revalidated(retry_of.plan)
        preview.disruptive = policy.plan_is_disruptive(preview.plan)
        preview.digest = selectors.plan_digest(preview.plan, host)
    if preview.problems:
        raise DomainError(preview.problems[0], details=preview.problems[1:])
    if expected_digest and expected_digest != preview.digest:
        raise DomainError(
            "The runbook, the host or their parameters changed since you reviewed the commands: "
            "review the commands again before running."
        )
    text = _check_window_and_justification(preview=preview, host=host, window=window, justification=justification)
    with transaction.atomic():
        execution = _create_execution(
            actor=actor,
            runbook=runbook,
            host=host,
            preview=preview,
            window=window,
            justification=text,
            overrides=overrides,
            via=via,
            retry_of=retry_of,
            now=now,
        )
        _enqueue(execution, now)
    return execution


def _check_window_and_justification(*, preview, host: Host, window, justification: str) -> str:
    """The linked window must cover the host; outside a window (post-launch) a justification is required."""
    if window is not None:
        policy.check_linked_window(
            window_status=window.status,
            window_title=window.title,
            covers_host=selectors.window_covers_host(window, host),
            host_name=host.name,
        )
    return policy.check_justification(preview.verdict, justification)


def _create_execution(
    *,
    actor,
    runbook: Runbook,
    host: Host,
    preview,
    window,
    justification: str,
    overrides: dict | None,
    via: str,
    now: datetime,
    retry_of: RunbookExecution | None = None,
    status: str = ExecutionStatus.QUEUED,
    group_run=None,
    batch: int | None = None,
) -> RunbookExecution:
    """Save one execution of a checked preview, audited (inside the caller's transaction; not enqueued)."""
    user, name = actor_fields(actor)
    execution = RunbookExecution(
        runbook=runbook,
        host=host,
        window=window,
        status=status,
        requested_by=user,
        requested_by_name=name,
        requested_at=now,
        requested_via=via,
        retry_of=retry_of,
        group_run=group_run,
        batch=batch,
        plan=preview.plan,
        host_snapshot=selectors.host_snapshot(host),
        runbook_name=runbook.name,
        justification=justification,
        outside_window=preview.verdict.needs_justification,
    )
    execution.full_clean()
    execution.save()
    record(
        actor=actor,
        action="runbooks.execution.requested",
        target=execution,
        data={
            "after": {"status": status},
            "runbook": runbook.slug,
            "host": host.name,
            "address": host.address,
            "plan": preview.plan,
            "via": via,
            "window": {"id": window.pk, "title": window.title} if window is not None else None,
            "retry_of": retry_of.pk if retry_of is not None else None,
            "group_run": {"id": group_run.pk, "batch": batch} if group_run is not None else None,
            "overrides": overrides or {},
            "outside_window": preview.verdict.needs_justification,
            "window_rule": preview.verdict.reason,
            "justification": justification,
        },
    )
    return execution


def _revalidated(plan: list[dict]) -> list[dict]:
    cleaned = []
    for step in plan:
        params = library.validate_params(step["task"], step.get("params") or {})
        cleaned.append({**step, "params": params})
    return cleaned


def execution_retry(*, actor, execution: RunbookExecution, justification: str = "", now: datetime | None = None):
    from runbooks.choices import RETRYABLE_STATUSES

    if execution.status not in RETRYABLE_STATUSES:
        raise InvalidTransition(
            f"Execution #{execution.pk} is {execution.get_status_display().lower()}: only failed, cancelled, "
            "timed-out or lost executions can be retried."
        )
    return execution_launch(
        actor=actor,
        runbook=execution.runbook,
        host=execution.host,
        window=execution.window,
        justification=justification,
        via=LaunchChannel.RETRY,
        retry_of=execution,
        now=now,
    )


def execution_cancel(*, actor, execution: RunbookExecution, reason: str = "", now: datetime | None = None):
    """Cancel: a queued run ends at once; a running one is stopped by its worker (remote command killed)."""
    require(actor, "runbooks.cancel_runbookexecution", what="cancelling runbook executions", nobody=False)
    now = now_or(now)
    user, name = actor_fields(actor)
    with transaction.atomic():
        locked = lock(execution)
        before = {"status": locked.status}
        if locked.status == ExecutionStatus.QUEUED:
            locked.status = ExecutionStatus.CANCELLED
            locked.finished_at = now
            locked.cancel_requested_at = now
            locked.cancel_requested_by = user
            locked.cancel_requested_by_name = name
            locked.cancel_reason = reason
            locked.error = f"Cancelled by {name} before it started." + (f" Reason: {reason}" if reason else "")
            locked.full_clean()
            locked.save()
            record(
                actor=actor,
                action="runbooks.execution.cancelled",
                target=locked,
                data={"before": before, "after": {"status": locked.status}, "reason": reason},
            )
            _kick_host_on_commit(locked.host_id)
            _advance_group_on_commit(locked)
        elif locked.status == ExecutionStatus.RUNNING:
            if locked.cancel_requested_at:
                raise DomainError(
                    f"Cancellation was already requested by {locked.cancel_requested_by_name} at "
                    f"{locked.cancel_requested_at:%H:%M:%S} UTC; the worker stops the remote command within seconds."
                )
            locked.cancel_requested_at = now
            locked.cancel_requested_by = user
            locked.cancel_requested_by_name = name
            locked.cancel_reason = reason
            locked.save(
                update_fields=[
                    "cancel_requested_at",
                    "cancel_requested_by",
                    "cancel_requested_by_name",
                    "cancel_reason",
                ]
            )
            record(
                actor=actor,
                action="runbooks.execution.cancel_requested",
                target=locked,
                data={"status": locked.status, "reason": reason},
            )
        else:
            raise InvalidTransition(
                f"Execution #{locked.pk} is {locked.get_status_display().lower()}: "
                "only queued or running executions can be cancelled."
            )
    return locked
