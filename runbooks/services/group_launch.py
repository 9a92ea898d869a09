"""Runs on host groups requested by people, the CLI and schedules: launch (all hosts checked, all or nothing) and
cancel (the hosts not started are cancelled, the running ones are asked to stop)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError, InvalidTransition
from ersen_ops.core.kit import lock, now_or, require
from runbooks import policy, selectors
from runbooks.choices import (
    GROUP_RUN_FINAL_STATUSES,
    ExecutionStatus,
    GroupRunAction,
    GroupRunStatus,
    LaunchChannel,
)
from runbooks.models import GroupRun, HostGroup, Runbook
from runbooks.services.groups import _cancel_pending, _set_status, _start_batch
from runbooks.services.launch import _check_window_and_justification, _create_execution, execution_cancel


def group_run_launch(
    *,
    actor,
    runbook: Runbook,
    host_group: HostGroup,
    batch_size: int = 1,
    max_failures: int = 1,
    overrides: dict | None = None,
    window=None,
    justification: str = "",
    via: str = LaunchChannel.ADMIN,
    expected_digest: str | None = None,
    now: datetime | None = None,
) -> GroupRun:
    """Run `runbook` on every host of `host_group`, `batch_size` at a time, in position order.

    Every host is checked as a single launch would be (plan, pinned key, linked window, the window rule and the
    justification) before anything is saved: if one host is refused, nothing is created and the error names the
    hosts. Then one execution per host is saved at once — the first batch queued, the others pending — so the run's
    page shows every host from the start.
    """
    require(actor, "runbooks.run_runbook", what="launching runbooks", nobody=False)
    now = now_or(now)
    if not runbook.enabled:
        raise DomainError(f"Runbook “{runbook.name}” is disabled.")
    hosts = selectors.host_group_hosts(host_group)
    policy.check_group_run_settings(
        batch_size=batch_size, max_failures=max_failures, host_count=len(hosts), group_name=host_group.name
    )
    checked, refused = [], []
    for host in hosts:
        try:
            preview = selectors.execution_preview(runbook=runbook, host=host, overrides=overrides, window=window)
            if preview.problems:
                raise DomainError(" ".join(preview.problems))
            text = _check_window_and_justification(
                preview=preview, host=host, window=window, justification=justification
            )
        except DomainError as exc:
            refused.append(f"{host.name}: {exc}")
            continue
        checked.append((host, preview, text))
    if refused:
        raise DomainError(
            f"Not launched: {len(refused)} of {len(hosts)} hosts of “{host_group.name}” were refused "
            f"({', '.join(r.split(':', 1)[0] for r in refused)}); nothing was started.",
            details=refused,
        )
    digest = selectors.group_plan_digest([p for _, p, _ in checked])
    if expected_digest and expected_digest != digest:
        raise DomainError(
            "The runbook, the group's hosts or their parameters changed since you reviewed the commands: "
            "review them again before running."
        )
    user, name = actor_fields(actor)
    batches_total = policy.batch_count(len(checked), batch_size)
    with transaction.atomic():
        run = GroupRun(
            runbook=runbook,
            host_group=host_group,
            runbook_name=runbook.name,
            group_name=host_group.name,
            hosts_snapshot=[
                {"id": h.pk, "name": h.name, "position": h.position, "batch": policy.batch_number(i, batch_size)}
                for i, (h, _, _) in enumerate(checked)
            ],
            batch_size=batch_size,
            max_failures=max_failures,
            batches_total=batches_total,
            overrides=overrides or {},
            window=window,
            justification=(justification or "").strip(),
            status=GroupRunStatus.QUEUED,
            requested_by=user,
            requested_by_name=name,
            requested_at=now,
            requested_via=via,
        )
        run.full_clean()
        run.save()
        record(
            actor=actor,
            action=GroupRunAction.REQUESTED,
            target=run,
            data={
                "after": {"status": run.status},
                "runbook": runbook.slug,
                "host_group": host_group.slug,
                "hosts": [h["name"] for h in run.hosts_snapshot],
                "batch_size": batch_size,
                "max_failures": max_failures,
                "batches_total": batches_total,
                "overrides": overrides or {},
                "window": {"id": window.pk, "title": window.title} if window is not None else None,
                "via": via,
                "justification": run.justification,
                "outside_window": [h.name for h, p, _ in checked if p.verdict.needs_justification],
            },
        )
        for index, (host, preview, text) in enumerate(checked):
            _create_execution(
                actor=actor,
                runbook=runbook,
                host=host,
                preview=preview,
                window=window,
                justification=text,
                overrides=overrides,
                via=via,
                now=now,
                status=ExecutionStatus.PENDING,
                group_run=run,
                batch=policy.batch_number(index, batch_size),
            )
        _start_batch(run, 1, now, actor=actor, reason="launched")
    return run


def group_run_cancel(*, actor, group_run: GroupRun, reason: str, now: datetime | None = None) -> GroupRun:
    """Cancel a group run: hosts not started are cancelled, queued ones end at once, running ones are asked to
    stop (the execution cancel service: the worker stops the remote command). The run itself is cancelled now."""
    require(actor, "runbooks.cancel_runbookexecution", what="cancelling runbook executions", nobody=False)
    now = now_or(now)
    _, name = actor_fields(actor)
    reason = (reason or "").strip()
    with transaction.atomic():
        run = lock(group_run)
        if run.status in GROUP_RUN_FINAL_STATUSES:
            raise InvalidTransition(
                f"Group run #{run.pk} is {run.get_status_display().lower()}: only a queued or running group run "
                "can be cancelled."
            )
        words = f"Cancelled with the group run by {name}" + (f": {reason}" if reason else ".")
        not_started = _cancel_pending(run, reason=words, actor=actor, actor_name=name, now=now)
        queued, running = [], []
        for execution in run.executions.filter(
            status__in=(ExecutionStatus.QUEUED, ExecutionStatus.RUNNING), cancel_requested_at__isnull=True
        ).order_by("pk"):
            (queued if execution.status == ExecutionStatus.QUEUED else running).append(execution.pk)
            execution_cancel(actor=actor, execution=execution, reason=words, now=now)
        before = _set_status(run, GroupRunStatus.CANCELLED, "cancel")
        run.finished_at = now
        run.cancel_requested_by_name = name
        run.cancel_reason = reason
        run.outcome = (
            f"Cancelled by {name} in batch {run.current_batch} of {run.batches_total}: {len(not_started)} hosts not "
            f"started, {len(queued)} queued cancelled, {len(running)} running asked to stop."
            + (f" Reason: {reason}" if reason else "")
        )
        run.save(update_fields=["status", "finished_at", "cancel_requested_by_name", "cancel_reason", "outcome"])
        record(
            actor=actor,
            action=GroupRunAction.CANCELLED,
            target=run,
            data={
                "before": before,
                "after": {"status": run.status},
                "reason": reason,
                "not_started": not_started,
                "queued_cancelled": queued,
                "running_cancel_requested": running,
            },
        )
    return run
