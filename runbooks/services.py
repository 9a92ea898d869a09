"""Every state change of hosts, runbooks and executions: lock, check, change, `full_clean`, save, audit, enqueue.

Long work (SSH, HTTP) never happens inside these transactions: the runner (`runbooks.runner`) calls
them between commands, each a short transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.db import db_retry
from ersen_ops.core.errors import DomainError, InvalidTransition, PermissionRefused
from ersen_ops.core.queue import enqueue_on_commit
from runbooks import library, policy, selectors
from runbooks.choices import (
    ExecutionStatus,
    LaunchChannel,
    StepKind,
    StepStatus,
    can_transition,
)
from runbooks.models import ExecutionStep, Host, Runbook, RunbookExecution, RunbookStep
from runbooks.output import CappedBuffer

logger = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------------------


def host_state(host: Host) -> dict:
    return {
        "name": host.name,
        "hostname": host.hostname,
        "port": host.port,
        "ssh_user": host.ssh_user,
        "roles": host.roles,
        "enabled": host.enabled,
        "parameter_defaults": host.parameter_defaults,
        "host_key_fingerprint": host.host_key_fingerprint,
        "components": sorted(c.name for c in host.components.all()) if host.pk else [],
    }


def host_validate_parameter_defaults(defaults) -> None:
    if not isinstance(defaults, dict):
        raise library.ParameterRefused(
            'Parameter defaults must be a JSON object such as {"backup_dir": "/srv/backups"}.'
        )
    for key, value in defaults.items():
        tasks = [t for t in library.REGISTRY.values() if key in t.param_index]
        if not tasks:
            raise library.ParameterRefused(f"No task of the library has a parameter {key!r}.")
        for task in tasks:
            task.param_index[key].check(value, task.label)


def host_save(*, actor, host: Host, before: dict | None = None, components=None) -> Host:
    """Create or change a host (the pinned key is only changed by `host_pin_key`)."""
    _require(actor, "runbooks.change_host" if host.pk else "runbooks.add_host", "editing hosts")
    host_validate_parameter_defaults(host.parameter_defaults)
    created = host.pk is None
    with transaction.atomic():
        host.full_clean()
        host.save()
        if components is not None:
            host.components.set(components)
        record(
            actor=actor,
            action="runbooks.host.created" if created else "runbooks.host.changed",
            target=host,
            data={"before": before or {}, "after": host_state(host)},
        )
    return host


def host_fetch_key(*, host: Host):
    """The key the server presents now (network; call outside transactions)."""
    from runbooks import remote

    try:
        return remote.fetch_host_key(host.hostname, host.port, timeout=settings.OPS_SSH_CONNECT_TIMEOUT)
    except remote.RemoteError as exc:
        raise DomainError(f"Could not fetch the host key of {host.name}: {exc}") from None


def host_pin_key(*, actor, host: Host, confirmed_fingerprint: str, now: datetime | None = None) -> Host:
    """Pin the key the server presents, if it is the one the operator confirmed. Audited with before/after."""
    _require(actor, "runbooks.pin_host_key", "pinning host keys")
    key = host_fetch_key(host=host)
    if key.fingerprint != (confirmed_fingerprint or "").strip():
        raise DomainError(
            f"{host.name} now presents {key.describe()}, not the {confirmed_fingerprint or '(none)'} you confirmed. "
            "Nothing was pinned: check the host and try again."
        )
    user, _ = actor_fields(actor)
    with transaction.atomic():
        locked = Host.objects.select_for_update().get(pk=host.pk)
        before = {"host_key_type": locked.host_key_type, "host_key_fingerprint": locked.host_key_fingerprint}
        locked.host_key_type = key.key_type
        locked.host_key = key.key_base64
        locked.host_key_fingerprint = key.fingerprint
        locked.host_key_pinned_at = now or timezone.now()
        locked.host_key_pinned_by = user
        locked.full_clean()
        locked.save()
        record(
            actor=actor,
            action="runbooks.host.key_pinned",
            target=locked,
            data={
                "before": before,
                "after": {"host_key_type": key.key_type, "host_key_fingerprint": key.fingerprint},
                "address": f"{locked.hostname}:{locked.port}",
            },
        )
    return locked


# --------------------------------------------------------------------------------------------------------
# Runbooks
# --------------------------------------------------------------------------------------------------------


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
            )
        except DomainError as exc:
            raise DomainError(f"Step {order}: {exc}") from None


def runbook_save(*, actor, runbook: Runbook, steps: list[dict], before: dict | None = None) -> Runbook:
    """Create or change a runbook with its steps (validated against the task library)."""
    _require(actor, "runbooks.change_runbook" if runbook.pk else "runbooks.add_runbook", "editing runbooks")
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


# --------------------------------------------------------------------------------------------------------
# Executions: launch, retry, cancel
# --------------------------------------------------------------------------------------------------------


def _enqueue(execution: RunbookExecution, now: datetime) -> None:
    """Queue the run task after commit (a duplicate is harmless: only one claim can win)."""
    RunbookExecution.objects.filter(pk=execution.pk).update(enqueued_at=now)
    enqueue_on_commit(RUN_TASK, execution.pk, group="runbooks", task_name=f"runbook-execution-{execution.pk}"[:100])


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
    _require(actor, "runbooks.run_runbook", "launching runbooks")
    now = now or timezone.now()
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
    if window is not None:
        policy.check_linked_window(
            window_status=window.status,
            window_title=window.title,
            covers_host=selectors.window_covers_host(window, host),
            host_name=host.name,
        )
    text = policy.check_justification(preview.verdict, justification)
    user, name = actor_fields(actor)
    with transaction.atomic():
        execution = RunbookExecution(
            runbook=runbook,
            host=host,
            window=window,
            status=ExecutionStatus.QUEUED,
            requested_by=user,
            requested_by_name=name,
            requested_at=now,
            requested_via=via,
            retry_of=retry_of,
            plan=preview.plan,
            host_snapshot=selectors.host_snapshot(host),
            runbook_name=runbook.name,
            justification=text,
            outside_window=preview.verdict.needs_justification,
        )
        execution.full_clean()
        execution.save()
        record(
            actor=actor,
            action="runbooks.execution.requested",
            target=execution,
            data={
                "after": {"status": ExecutionStatus.QUEUED},
                "runbook": runbook.slug,
                "host": host.name,
                "address": host.address,
                "plan": preview.plan,
                "via": via,
                "window": {"id": window.pk, "title": window.title} if window is not None else None,
                "retry_of": retry_of.pk if retry_of is not None else None,
                "overrides": overrides or {},
                "outside_window": preview.verdict.needs_justification,
                "window_rule": preview.verdict.reason,
                "justification": text,
            },
        )
        _enqueue(execution, now)
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
    _require(actor, "runbooks.cancel_runbookexecution", "cancelling runbook executions")
    now = now or timezone.now()
    user, name = actor_fields(actor)
    with transaction.atomic():
        locked = RunbookExecution.objects.select_for_update().get(pk=execution.pk)
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


# --------------------------------------------------------------------------------------------------------
# Executions: the worker's side (claim, heartbeat, steps, finish)
# --------------------------------------------------------------------------------------------------------


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
        return _claim(execution_id=execution_id, task_id=task_id, worker=worker, now=now or timezone.now(), token=token)
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
        running = (
            RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.RUNNING)
            .values_list("pk", flat=True)
            .first()
        )
        if running:
            return Claim(None, "host_busy", ExecutionStatus.QUEUED, running)
        ahead = (
            RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.QUEUED)
            .filter(Q(requested_at__lt=row["requested_at"]) | Q(requested_at=row["requested_at"], pk__lt=execution_id))
            .order_by("requested_at", "pk")
            .first()
        )
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
    return Claim(token, "claimed", ExecutionStatus.RUNNING)


@db_retry
def execution_heartbeat(*, execution_id: int, token: str, now: datetime | None = None) -> bool:
    return (
        RunbookExecution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING, claim_token=token).update(
            heartbeat_at=now or timezone.now()
        )
        == 1
    )


_STEP_ACTIONS = {
    StepKind.CONNECT: ("runbooks.host.connecting", "runbooks.host.connected", "runbooks.host.connect_failed"),
    StepKind.COMMAND: ("runbooks.command.started", "runbooks.command.exited", "runbooks.command.exited"),
    StepKind.DECISION: (None, "runbooks.step.decided", "runbooks.step.decided"),
    StepKind.CHECK: (None, "runbooks.check.passed", "runbooks.check.failed"),
    StepKind.VERIFY: (None, "runbooks.check.passed", "runbooks.check.failed"),
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
    now: datetime | None = None,
) -> ExecutionStep:
    now = now or timezone.now()
    with transaction.atomic():
        execution = RunbookExecution.objects.select_for_update().get(pk=execution_id)
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
        )
        action = _STEP_ACTIONS[kind][0]
        if action:
            record(
                actor=SYSTEM_WORKER,
                action=action,
                target=execution,
                data={"step": order, "label": step.label, "command": command, "timeout": timeout},
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
    now = now or timezone.now()
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
    now = now or timezone.now()
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
        if not can_transition(execution.status, status):
            raise InvalidTransition(f"Execution #{execution.pk} is {execution.status}; it cannot become {status}.")
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
        if status == ExecutionStatus.SUCCEEDED and execution.window_id and execution.result.get("verified"):
            _record_backup_evidence(execution)
        if status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
            _notify_failure(execution)
        _kick_host_on_commit(execution.host_id)
    return True


def _record_backup_evidence(execution: RunbookExecution) -> None:
    """A verified backup linked to a window approves its "Backup completed and verified" checklist item."""
    if not any(step.get("task") == "backup_database" for step in execution.plan):
        return
    try:
        from maintenance import services as maintenance_services

        record_evidence = getattr(maintenance_services, "checklist_record_backup_evidence", None)
    except ImportError:  # pragma: no cover - the maintenance app is always installed
        record_evidence = None
    if record_evidence is None:
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.evidence_skipped",
            target=execution,
            data={"reason": "maintenance.services.checklist_record_backup_evidence is not available"},
        )
        return
    try:
        with transaction.atomic():  # a savepoint: a refusal must not undo the execution's own result
            record_evidence(window=execution.window, execution=execution)
    except DomainError as exc:
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.evidence_refused",
            target=execution,
            data={"window": execution.window_id, "reason": str(exc)},
        )


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


# --------------------------------------------------------------------------------------------------------
# Sweepers: lost workers and waiting runs
# --------------------------------------------------------------------------------------------------------


def _kick_host_on_commit(host_id: int) -> None:
    transaction.on_commit(lambda: host_start_next(host_id=host_id))


def host_start_next(*, host_id: int, now: datetime | None = None, min_gap_seconds: int = 0) -> int | None:
    """Queue the task of the oldest waiting execution of a free host. Returns its id, if any."""
    now = now or timezone.now()
    with transaction.atomic():
        if RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.RUNNING).exists():
            return None
        nxt = (
            RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.QUEUED)
            .order_by("requested_at", "pk")
            .first()
        )
        if nxt is None:
            return None
        if min_gap_seconds and nxt.enqueued_at and (now - nxt.enqueued_at).total_seconds() < min_gap_seconds:
            return None
        _enqueue(nxt, now)
    return nxt.pk


def executions_start_waiting(*, now: datetime | None = None) -> list[int]:
    """Safety net: a free host with queued runs gets its oldest one queued again (a lost task, a lost kick)."""
    now = now or timezone.now()
    host_ids = (
        RunbookExecution.objects.filter(status=ExecutionStatus.QUEUED).values_list("host_id", flat=True).distinct()
    )
    started = []
    for host_id in list(host_ids):
        pk = host_start_next(host_id=host_id, now=now, min_gap_seconds=20)
        if pk:
            started.append(pk)
    return started


def executions_reap_lost(*, now: datetime | None = None) -> list[int]:
    """Mark running executions whose worker stopped sending heartbeats as lost, with an explanation."""
    now = now or timezone.now()
    lost_after = settings.OPS_RUNBOOK_LOST_AFTER
    cutoff = policy.lost_cutoff(now, lost_after)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    reaped = []
    for pk in list(RunbookExecution.objects.filter(stale, status=ExecutionStatus.RUNNING).values_list("pk", flat=True)):
        with transaction.atomic():
            execution = RunbookExecution.objects.select_for_update().get(pk=pk)
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
        reaped.append(pk)
    return reaped
