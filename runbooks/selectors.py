"""Reads: hosts, runbooks, the plan a launch would run (for the Run page), executions with their waiting state."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery

from ersen_ops.core.db import db_retry
from ersen_ops.core.services import current_phase
from runbooks import library, policy
from runbooks.choices import ExecutionStatus
from runbooks.models import ExecutionStep, GroupRun, Host, HostGroup, Runbook, RunbookExecution


def max_step_timeout() -> int:
    # A command must end (and be recorded) before django-q's own timeout kills the worker.
    return max(policy.MIN_STEP_TIMEOUT, settings.Q_CLUSTER["timeout"] - 60)


def runbook_steps(runbook: Runbook) -> list[dict]:
    return [
        {
            "task": s.task,
            "params": s.params or {},
            "timeout_seconds": s.timeout_seconds,
            "retries": s.retries,
            "retry_delay": s.retry_delay,
        }
        for s in sorted(runbook.steps.all(), key=lambda s: (s.order, s.id))
    ]


def runbook_changes_a_host(runbook: Runbook) -> bool:
    """Whether running it changes production (a `disruptive` task of the library): launching it needs a fresh
    second factor (re-authentication)."""
    return policy.plan_is_disruptive(runbook_steps(runbook))


def host_list(*, enabled_only: bool = True) -> QuerySet[Host]:
    qs = Host.objects.prefetch_related("components")
    return qs.filter(enabled=True) if enabled_only else qs


def hosts_for_runbook(runbook: Runbook) -> list[Host]:
    """Enabled hosts, those with the runbook's default role first."""
    hosts = list(host_list())
    role = runbook.default_host_role
    return sorted(hosts, key=lambda h: (role not in h.role_list if role else False, h.name))


def in_progress_windows_for_host(host: Host):
    from maintenance.selectors import in_progress_windows_covering

    return in_progress_windows_covering(host.components.all())


def window_covers_host(window, host: Host) -> bool:
    return window.components.filter(pk__in=host.components.values("pk")).exists()


@dataclass
class Preview:
    runbook: Runbook
    host: Host
    plan: list[dict]
    commands: list[dict]  # [{"order", "task", "label", "timeout", "commands": [...]}]
    verdict: policy.WindowVerdict
    disruptive: bool
    digest: str
    busy_with: int | None = None
    problems: list[str] = field(default_factory=list)


def plan_digest(plan: list[dict], host: Host) -> str:
    payload = json.dumps({"plan": plan, "host": host_snapshot(host)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def host_snapshot(host: Host) -> dict:
    return {
        "id": host.pk,
        "name": host.name,
        "hostname": host.hostname,
        "port": host.port,
        "user": host.ssh_user,
        "host_key_type": host.host_key_type,
        "host_key": host.host_key,
        "host_key_fingerprint": host.host_key_fingerprint,
    }


def execution_preview(*, runbook: Runbook, host: Host, overrides: dict | None = None, window=None) -> Preview:
    """What a launch would run, exactly; raises DomainError if the plan is invalid."""
    plan = [
        s.as_dict()
        for s in policy.build_plan(
            runbook_steps(runbook),
            host_defaults=host.parameter_defaults or {},
            overrides=overrides,
            max_timeout=max_step_timeout(),
        )
    ]
    commands = []
    for step in plan:
        spec = library.get_task(step["task"])
        commands.append(
            {
                "order": step["order"],
                "task": step["task"],
                "label": spec.label,
                "timeout": step["timeout"],
                "uses_ssh": spec.uses_ssh,
                "commands": library.plan_commands(step["task"], step["params"]),
            }
        )
    disruptive = policy.plan_is_disruptive(plan)
    windows = list(in_progress_windows_for_host(host))
    verdict = policy.window_rule(
        phase=current_phase(),
        host_name=host.name,
        host_component_names=[c.name for c in host.components.all()],
        in_progress_window_titles=[w.title for w in windows],
        linked_window_status=window.status if window is not None else None,
        linked_window_covers_host=window_covers_host(window, host) if window is not None else False,
        disruptive=disruptive,
    )
    busy = (
        RunbookExecution.objects.filter(host=host, status=ExecutionStatus.RUNNING).values_list("pk", flat=True).first()
    )
    problems = []
    if not host.enabled:
        problems.append(f"Host {host.name} is disabled.")
    if not host.is_pinned and policy.plan_uses_ssh(plan):
        problems.append(f"Host {host.name} has no pinned host key: use “Fetch and pin host key” on the host first.")
    return Preview(
        runbook=runbook,
        host=host,
        plan=plan,
        commands=commands,
        verdict=verdict,
        disruptive=disruptive,
        digest=plan_digest(plan, host),
        busy_with=busy,
        problems=problems,
    )


def _running_on_same_host():
    return RunbookExecution.objects.filter(host=OuterRef("host"), status=ExecutionStatus.RUNNING).values("pk")[:1]


def execution_list() -> QuerySet[RunbookExecution]:
    """Executions with what a list needs in one query, including "waiting for #N" of queued ones."""
    return RunbookExecution.objects.select_related("runbook", "host", "requested_by", "window").annotate(
        waiting_for_id=Subquery(_running_on_same_host())
    )


# First come, first served on a host: the order in which waiting runs start (the id breaks a tie of times).
FIFO_ORDER = ("requested_at", "pk")


def executions_waiting(*, host_id: int, ahead_of: RunbookExecution | None = None) -> QuerySet[RunbookExecution]:
    """The queued executions of a host in the order they start; with `ahead_of`, only those before it."""
    queued = RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.QUEUED)
    if ahead_of is not None:
        queued = queued.filter(
            Q(requested_at__lt=ahead_of.requested_at) | Q(requested_at=ahead_of.requested_at, pk__lt=ahead_of.pk)
        )
    return queued.order_by(*FIFO_ORDER)


def execution_running_on(*, host_id: int) -> int | None:
    """The id of the execution running on a host (at most one: a database constraint), or None."""
    return (
        RunbookExecution.objects.filter(host_id=host_id, status=ExecutionStatus.RUNNING)
        .values_list("pk", flat=True)
        .first()
    )


def execution_waiting_message(execution: RunbookExecution) -> str:
    if execution.status != ExecutionStatus.QUEUED:
        return ""
    running = getattr(execution, "waiting_for_id", None)
    if running is None:
        running = execution_running_on(host_id=execution.host_id)
    ahead = None
    if not running:
        ahead = executions_waiting(host_id=execution.host_id, ahead_of=execution).values_list("pk", flat=True).first()
    return policy.waiting_message(running, ahead)


@db_retry(what="polling a runbook execution's control fields")
def execution_control(*, execution_id: int) -> dict | None:
    """What the runner polls while a command runs: status, claim token, cancellation request."""
    return (
        RunbookExecution.objects.filter(pk=execution_id)
        .values("status", "claim_token", "cancel_requested_at", "cancel_requested_by_name")
        .first()
    )


def executions_for_window(window) -> QuerySet[RunbookExecution]:
    return execution_list().filter(window=window)


def runbook_launch_links_for_window(window) -> list[dict]:
    """Run buttons for a maintenance window's page: each enabled runbook, linked to the window.

    Returns [{"runbook": Runbook, "label": str, "url": str}]; the URL opens the Run confirmation page.
    """
    from django.urls import reverse

    links = []
    for runbook in Runbook.objects.filter(enabled=True).order_by("name"):
        url = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run"]) + f"?window={window.pk}"
        links.append({"runbook": runbook, "label": f"Run “{runbook.name}” for this window", "url": url})
    return links


def step_payload(step: ExecutionStep, *, tail_chars: int = 32768) -> dict:
    def tail(text: str) -> str:
        return text[-tail_chars:] if len(text) > tail_chars else text

    duration = step.duration
    return {
        "order": step.order,
        "plan_index": step.plan_index,
        "task": step.task,
        "kind": step.kind,
        "label": step.label,
        "command": step.command,
        "status": step.status,
        "status_label": step.get_status_display(),
        "started_at": step.started_at.isoformat() if step.started_at else None,
        "finished_at": step.finished_at.isoformat() if step.finished_at else None,
        "duration_seconds": round(duration.total_seconds(), 3) if duration else None,
        "timeout_seconds": step.timeout_seconds,
        "exit_code": step.exit_code,
        "stdout": tail(step.stdout),
        "stderr": tail(step.stderr),
        "stdout_truncated_for_display": len(step.stdout) > tail_chars,
        "stderr_truncated_for_display": len(step.stderr) > tail_chars,
        "stdout_bytes": step.stdout_bytes,
        "stderr_bytes": step.stderr_bytes,
        "stdout_dropped": step.stdout_dropped,
        "stderr_dropped": step.stderr_dropped,
        "error": step.error,
        "detail": step.detail,
    }


def execution_payload(execution: RunbookExecution) -> dict:
    """The JSON the execution page polls: status, each step with its output tail, durations and exit codes."""
    from runbooks.choices import FINAL_STATUSES, STATUS_COLOURS, STEP_COLOURS

    steps = []
    for step in execution.steps.all():
        data = step_payload(step)
        data["colour"] = STEP_COLOURS.get(step.status)
        steps.append(data)
    duration = execution.duration
    return {
        "id": execution.pk,
        "status": execution.status,
        "status_label": execution.get_status_display(),
        "colour": STATUS_COLOURS.get(execution.status),
        "final": execution.status in FINAL_STATUSES,
        "waiting": execution_waiting_message(execution),
        "requested_at": execution.requested_at.isoformat() if execution.requested_at else None,
        "started_at": execution.started_at.isoformat() if execution.started_at else None,
        "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
        "heartbeat_at": execution.heartbeat_at.isoformat() if execution.heartbeat_at else None,
        "duration_seconds": round(duration.total_seconds(), 3) if duration else None,
        "cancel_requested": execution.cancel_requested_at is not None,
        "error": execution.error,
        "result": execution.result,
        "steps": steps,
    }


# --- backups: the inventory --------------------------------------------------------------------------------------


def backups_live(*, host_id: int) -> QuerySet:
    """The host's backups whose files have not been pruned, newest first."""
    from runbooks.models import Backup

    return Backup.objects.filter(host_id=host_id, pruned_at__isnull=True).order_by("-taken_at", "-id")


def backup_newest_verified(*, host_id: int):
    return backups_live(host_id=host_id).filter(verified=True).first()


def backup_get(*, host_id: int, path: str):
    return backups_live(host_id=host_id).filter(path=path).first()


def backup_evidence_windows(execution_ids) -> dict[int, list[str]]:
    """Execution id → the maintenance windows (in words) whose checklist an approval cites it as evidence of.

    Revoked approvals count too: a backup that was once a window's evidence is kept (the record outlives the mistake).
    """
    from django.contrib.contenttypes.models import ContentType

    from maintenance.models import Approval

    ids = [str(i) for i in execution_ids]
    if not ids:
        return {}
    found: dict[int, list[str]] = {}
    rows = Approval.objects.filter(
        evidence_type=ContentType.objects.get_for_model(RunbookExecution), evidence_id__in=ids
    ).values_list("evidence_id", "item__window_id", "item__window__title")
    for evidence_id, window_id, title in rows:
        words = f"window #{window_id} “{title}”"
        found.setdefault(int(evidence_id), [])
        if words not in found[int(evidence_id)]:
            found[int(evidence_id)].append(words)
    return found


def backup_facts(backups) -> list:
    """The retention policy's view of these Backup rows (with the windows they are evidence of)."""
    backups = list(backups)
    evidence = backup_evidence_windows({b.execution_id for b in backups})
    return [
        policy.BackupFact(
            id=b.pk, taken_at=b.taken_at, verified=b.verified, evidence_of=tuple(evidence.get(b.execution_id, ()))
        )
        for b in backups
    ]


def retention_counts() -> policy.RetentionCounts:
    return policy.RetentionCounts(
        daily=settings.OPS_BACKUP_KEEP_DAILY,
        weekly=settings.OPS_BACKUP_KEEP_WEEKLY,
        monthly=settings.OPS_BACKUP_KEEP_MONTHLY,
    )


def backup_retention_now(*, host_ids, now) -> dict[int, policy.Retention]:
    """What the retention policy (with the settings' counts) says today of each host's live backups (the admin's
    "kept because" column); what prune_backups will do, minus files it finds missing or unknown on the host."""
    from runbooks.models import Backup

    by_host: dict[int, list] = {}
    for b in Backup.objects.filter(host_id__in=list(host_ids), pruned_at__isnull=True):
        by_host.setdefault(b.host_id, []).append(b)
    counts = retention_counts()
    return {
        host_id: policy.backup_retention(backup_facts(rows), counts=counts, now=now)
        for host_id, rows in by_host.items()
    }


def host_for_copy(*, name: str):
    return Host.objects.filter(name=name).first()


# --- host groups and their runs --------------------------------------------------------------------------------


def host_group_members(group: HostGroup) -> list[Host]:
    """Every host the group names, enabled or not, in run order (the admin shows the disabled ones as left out)."""
    if group.role:
        hosts = [h for h in Host.objects.prefetch_related("components") if group.role in h.role_list]
    else:
        hosts = list(group.hosts.prefetch_related("components"))
    return sorted(hosts, key=lambda h: policy.group_order_key(position=h.position, name=h.name))


def host_group_hosts(group: HostGroup) -> list[Host]:
    """The hosts a run on the group targets: its enabled members, by position (lower first), then name."""
    return [h for h in host_group_members(group) if h.enabled]


def group_plan_digest(previews: list[Preview]) -> str:
    """One digest of every host's plan (what the operator reviewed on the launch page)."""
    return hashlib.sha256("|".join(p.digest for p in previews).encode()).hexdigest()[:16]


def group_run_list() -> QuerySet[GroupRun]:
    return GroupRun.objects.select_related("runbook", "host_group", "window")


def group_run_matrix(run: GroupRun) -> dict:
    """The host × step matrix of a group run, in three queries whatever the number of hosts: rows are hosts in run
    order with their execution, columns the plan's steps; a cell is the step's status and its attempts."""
    from runbooks.choices import GROUP_RUN_COLOURS, GROUP_RUN_FINAL_STATUSES, STATUS_COLOURS, STEP_COLOURS

    executions = list(
        RunbookExecution.objects.filter(group_run=run).only(
            "pk", "status", "batch", "host_snapshot", "plan", "error", "started_at", "finished_at", "host_id"
        )
    )
    order = {h["id"]: i for i, h in enumerate(run.hosts_snapshot or [])}
    executions.sort(key=lambda e: (order.get(e.host_id, len(order)), e.pk))
    records: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for execution_id, plan_index, attempt, status in ExecutionStep.objects.filter(execution__group_run=run).values_list(
        "execution_id", "plan_index", "attempt", "status"
    ):
        records.setdefault((execution_id, plan_index), []).append((attempt, status))
    plan = executions[0].plan if executions else []
    columns = []
    for step in plan:
        spec = library.REGISTRY.get(step["task"])
        columns.append({"order": step["order"], "task": step["task"], "label": spec.label if spec else step["task"]})
    cell_colours = {**STEP_COLOURS, "waiting": "#e0e0e0", "not_run": "#f5f5f5"}
    rows = []
    for execution in executions:
        cells = []
        for index in range(len(columns)):
            status, attempts = policy.matrix_cell(
                records.get((execution.pk, index), []), execution_status=execution.status
            )
            cells.append({"status": status, "attempts": attempts, "colour": cell_colours.get(status, "#616161")})
        rows.append(
            {
                "execution": execution.pk,
                "host": execution.host_snapshot.get("name", ""),
                "batch": execution.batch,
                "status": execution.status,
                "status_label": ExecutionStatus(execution.status).label,
                "colour": STATUS_COLOURS.get(execution.status),
                "error": execution.error,
                "cells": cells,
            }
        )
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "colour": GROUP_RUN_COLOURS.get(run.status),
        "final": run.status in GROUP_RUN_FINAL_STATUSES,
        "current_batch": run.current_batch,
        "batches_total": run.batches_total,
        "outcome": run.outcome,
        "columns": columns,
        "rows": rows,
    }
