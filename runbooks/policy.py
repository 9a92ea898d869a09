"""Runbook rules as pure functions: no database, `now` passed in.

- Steps: a runbook's steps must name library tasks with valid parameters and sane timeouts.
- The window rule: post-launch, a run against a host needs an in-progress maintenance window of one of
  the host's components, or a typed justification (the run is then flagged). A read-only runbook
  (backup, smoke test) linked to an upcoming window is that window's preparation, not a change.
- Lost workers: a running execution without a heartbeat for OPS_RUNBOOK_LOST_AFTER seconds is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ersen_ops.core.errors import PolicyViolation
from ersen_ops.notifications.choices import Channel
from runbooks import library
from runbooks.choices import FINAL_STATUSES, HOST_FAILED_STATUSES, ExecutionStatus

MIN_JUSTIFICATION_CHARS = 15
# Failed, timed-out and lost runs are reported here.
FAILURE_ALERT_CHANNELS = (Channel.SLACK,)
MIN_STEP_TIMEOUT = 5


MAX_STEP_RETRIES = 5
MAX_RETRY_DELAY = 300


@dataclass(frozen=True)
class PlannedStep:
    order: int
    task: str
    params: dict
    timeout: int
    retries: int = 0
    retry_delay: int = 0

    def as_dict(self) -> dict:
        data = {"order": self.order, "task": self.task, "params": self.params, "timeout": self.timeout}
        if self.retries:  # plans without retries stay as they always were
            data.update(retries=self.retries, retry_delay=self.retry_delay)
        return data


def validate_retries(*, task: str, retries: int | None, retry_delay: int | None) -> None:
    """Retries only for a task the library marks idempotent (safe to run twice), within the bounds."""
    spec = library.get_task(task)
    retries = retries or 0
    if not (0 <= retries <= MAX_STEP_RETRIES):
        raise PolicyViolation(f"Retries of {spec.label} must be between 0 and {MAX_STEP_RETRIES}; got {retries}.")
    if retry_delay is not None and not (0 <= retry_delay <= MAX_RETRY_DELAY):
        raise PolicyViolation(
            f"The retry delay of {spec.label} must be between 0 and {MAX_RETRY_DELAY} s; got {retry_delay} s."
        )
    if retries and not spec.idempotent:
        raise PolicyViolation(
            f"{spec.label} ({task}) is not marked idempotent in the task library: running it twice is not known to "
            f"be safe, so it cannot have retries (got {retries}). Set retries to 0."
        )


def should_retry_step(*, attempt: int, retries: int, outcome: str) -> bool:
    """After attempt `attempt` (1 first) ended with `outcome` ("failed", "timed_out", "cancelled"): run it again?

    Only a failure is retried. A timed-out command may still be ending on the host (and a second one would double
    the wait on a stuck host); a cancel is the operator's word."""
    return outcome == "failed" and attempt <= retries


def validate_step(
    *,
    task: str,
    params: dict,
    timeout_seconds: int | None,
    max_timeout: int,
    retries: int | None = 0,
    retry_delay: int | None = None,
) -> dict:
    """Validate one runbook step; return its parameters with defaults. Raises DomainError subclasses."""
    spec = library.get_task(task)
    if not isinstance(params, dict):
        raise library.ParameterRefused(
            f'Parameters of {spec.label} must be a JSON object such as {{"service": "traefik"}}.'
        )
    library.check_unknown_params(task, params)
    cleaned = library.validate_params(task, params)
    if timeout_seconds is not None and not (MIN_STEP_TIMEOUT <= timeout_seconds <= max_timeout):
        raise PolicyViolation(
            f"Timeout of {spec.label} must be between {MIN_STEP_TIMEOUT} and {max_timeout} s "
            f"(the worker's own limit, Q_TIMEOUT, minus a minute); got {timeout_seconds} s."
        )
    validate_retries(task=task, retries=retries, retry_delay=retry_delay)
    return cleaned


def build_plan(
    steps: Sequence[dict], *, host_defaults: dict, overrides: dict | None, max_timeout: int
) -> list[PlannedStep]:
    """Resolve each step's parameters: task defaults ← host's parameter defaults ← runbook step ← launch overrides.

    `steps` are dicts with task, params, timeout_seconds (in order). Overrides apply to every step that
    declares the parameter; an override no step declares is refused (it would be silently ignored).
    """
    if not steps:
        raise PolicyViolation("This runbook has no steps.")
    overrides = overrides or {}
    declared = set()
    plan = []
    for order, step in enumerate(steps, start=1):
        spec = library.get_task(step["task"])
        declared |= set(spec.param_index)
        library.check_unknown_params(step["task"], step.get("params") or {})
        params = library.validate_params(step["task"], host_defaults, step.get("params") or {}, overrides)
        timeout = step.get("timeout_seconds") or spec.default_timeout()
        if not (MIN_STEP_TIMEOUT <= timeout <= max_timeout):
            raise PolicyViolation(
                f"Step {order} ({spec.label}) has a timeout of {timeout} s; it must be between "
                f"{MIN_STEP_TIMEOUT} and {max_timeout} s."
            )
        retries = step.get("retries") or 0
        retry_delay = step.get("retry_delay")
        validate_retries(task=step["task"], retries=retries, retry_delay=retry_delay)
        plan.append(
            PlannedStep(
                order=order,
                task=step["task"],
                params=params,
                timeout=timeout,
                retries=retries,
                retry_delay=retry_delay if retry_delay is not None else 10,
            )
        )
    unknown = sorted(set(overrides) - declared)
    if unknown:
        raise library.ParameterRefused(
            f"No step of this runbook has a parameter {', '.join(repr(u) for u in unknown)}; "
            f"parameters of its steps: {', '.join(sorted(declared))}."
        )
    return plan


def plan_is_disruptive(plan: Iterable[dict]) -> bool:
    return any(library.get_task(step["task"]).disruptive for step in plan)


def plan_uses_ssh(plan: Iterable[dict]) -> bool:
    return any(library.get_task(step["task"]).uses_ssh for step in plan)


@dataclass(frozen=True)
class WindowVerdict:
    needs_justification: bool
    reason: str  # why (or why not), for the confirmation page and the audit event


def window_rule(
    *,
    phase: str,
    host_name: str,
    host_component_names: Sequence[str],
    in_progress_window_titles: Sequence[str],
    linked_window_status: str | None,
    linked_window_covers_host: bool,
    disruptive: bool,
) -> WindowVerdict:
    """Does this launch need a typed justification (and get flagged)?

    `in_progress_window_titles`: in-progress windows that include at least one of the host's components.
    """
    if phase != "postlaunch":
        return WindowVerdict(False, "Pre-launch: maintenance may be done on the fly.")
    if in_progress_window_titles:
        return WindowVerdict(False, f"Inside the in-progress window “{in_progress_window_titles[0]}”.")
    if linked_window_status == "scheduled" and linked_window_covers_host and not disruptive:
        return WindowVerdict(False, "A read-only runbook preparing the linked, scheduled window.")
    components = ", ".join(host_component_names) or "no components configured"
    return WindowVerdict(
        True,
        f"Post-launch, {host_name} ({components}) has no maintenance window in progress: "
        "a typed justification is required and the run is flagged.",
    )


def check_justification(verdict: WindowVerdict, justification: str) -> str:
    text = (justification or "").strip()
    if verdict.needs_justification and len(text) < MIN_JUSTIFICATION_CHARS:
        raise PolicyViolation(
            f"{verdict.reason} Type why it cannot wait (at least {MIN_JUSTIFICATION_CHARS} characters; "
            f"got {len(text)})."
        )
    return text


def check_linked_window(*, window_status: str, window_title: str, covers_host: bool, host_name: str) -> None:
    if window_status in ("completed", "cancelled"):
        raise PolicyViolation(f"Window “{window_title}” is {window_status}: runs cannot be linked to it any more.")
    if not covers_host:
        raise PolicyViolation(
            f"Window “{window_title}” does not include any component that runs on {host_name}: "
            "link a window of this host's components, or add the component to the window."
        )


def is_verified_backup(*, status: str, plan: Iterable[dict], result) -> bool:
    """A finished execution is a verified backup when it succeeded, ran the backup task, and the backup verified
    itself (header, completion line, size, SHA-256; `library.backup_database`). The only definition: maintenance
    takes it as evidence for "Backup completed and verified" (`runbooks.window_hooks`)."""
    return (
        status == ExecutionStatus.SUCCEEDED
        and any(step.get("task") == "backup_database" for step in plan or ())
        and isinstance(result, dict)
        and result.get("verified") is True
    )


def heartbeat_interval(lost_after: int) -> float:
    """Heartbeats often enough that a few missed ones still stay well inside `lost_after`."""
    return max(1.0, lost_after / 6)


def lost_cutoff(now: datetime, lost_after: int) -> datetime:
    return now - timedelta(seconds=lost_after)


def waiting_message(running_id: int | None, ahead_id: int | None = None) -> str:
    if running_id:
        return f"waiting for execution #{running_id} on this host"
    if ahead_id:
        return f"waiting behind execution #{ahead_id} (queued earlier) on this host"
    return "waiting for a worker"


def channel_reliances(phase: str):
    """For the control room and ops_doctor: where failed runs are reported."""
    from ersen_ops.notifications.reliance import Reliance

    for channel in FAILURE_ALERT_CHANNELS:
        yield Reliance(channel, "failed, timed-out and lost runbook runs")


# --- backups: the inventory's facts from a run's result, and retention (grandfather-father-son) -------------------

# The names backup_database writes (`library._backup_paths`); pruning never touches any other file.
BACKUP_FILE_PATTERN = r"^backup_(\d{8})(?:_(\d{6}))?\.sql$"


def is_backup_file_name(name: str) -> bool:
    import re

    return re.fullmatch(BACKUP_FILE_PATTERN, name) is not None


def verified_dump_of(result) -> dict | None:
    """The dump a run wrote and verified (path, size, sha256), whatever later steps did; None if it did not.

    The inventory records it even when a later step (the off-host copy) failed: the file exists and verified itself,
    and pruning must know it. Whether the run is a window's evidence stays `is_verified_backup` (succeeded runs)."""
    if not isinstance(result, dict) or result.get("verified") is not True:
        return None
    path, size, sha256 = result.get("path"), result.get("size"), result.get("sha256")
    if not (isinstance(path, str) and isinstance(size, int) and isinstance(sha256, str) and len(sha256) == 64):
        return None
    return {"path": path, "size": size, "sha256": sha256}


@dataclass(frozen=True)
class BackupFact:
    """What retention needs to know of one backup."""

    id: int | str
    taken_at: datetime
    verified: bool
    evidence_of: tuple[str, ...] = ()  # the windows this backup is checklist evidence of, in words


@dataclass(frozen=True)
class RetentionCounts:
    daily: int
    weekly: int
    monthly: int

    def describe(self) -> str:
        return f"{self.daily} daily, {self.weekly} weekly, {self.monthly} monthly"


@dataclass(frozen=True)
class Retention:
    keep: dict  # id → tuple of (KeepReason, detail) pairs, e.g. (("daily", "2026-12-01"), ("weekly", "2026-W49"))
    delete: tuple  # ids, oldest first

    def reasons(self, backup_id) -> list[str]:
        """Why `backup_id` is kept, in words ("daily 2026-12-01", "evidence of window …"); empty if it goes."""
        from runbooks.choices import KeepReason

        return [f"{KeepReason(kind).label.lower()} {detail}".strip() for kind, detail in self.keep.get(backup_id, ())]


def backup_retention(backups: Sequence[BackupFact], *, counts: RetentionCounts, now: datetime) -> Retention:
    """Which backups to keep, why, and which to delete (pure; `now` passed in).

    Grandfather-father-son with restic's semantics: for each tier, the newest verified backup of each of the last N
    calendar days (ISO weeks, months; UTC) *that have a verified backup* is kept — so a pause in backups never makes
    the policy delete the history it has. A backup may be kept for several reasons. Always kept, whatever the
    counts: the newest verified backup, every backup that is a maintenance window's checklist evidence, and any
    backup dated after `now` (a clock problem is not a reason to delete). Unverified backups fill no tier.
    """
    from runbooks.choices import KeepReason

    keep: dict = {}

    def add(backup_id, kind, detail=""):
        keep.setdefault(backup_id, [])
        if (kind, detail) not in keep[backup_id]:
            keep[backup_id].append((kind, detail))

    ordered = sorted(backups, key=lambda b: (b.taken_at, str(b.id)), reverse=True)  # newest first
    verified = [b for b in ordered if b.verified]
    if verified:
        add(verified[0].id, KeepReason.NEWEST_VERIFIED, f"({_utc(verified[0].taken_at):%Y-%m-%d %H:%M} UTC)")
    for b in ordered:
        for window in b.evidence_of:
            add(b.id, KeepReason.EVIDENCE, f"of {window}")
        if b.taken_at > now:
            add(b.id, KeepReason.FUTURE, f"({_utc(b.taken_at):%Y-%m-%d %H:%M} UTC)")

    def bucket_day(t: datetime) -> str:
        return f"{t:%Y-%m-%d}"

    def bucket_week(t: datetime) -> str:
        year, week, _ = t.isocalendar()
        return f"{year}-W{week:02d}"

    def bucket_month(t: datetime) -> str:
        return f"{t:%Y-%m}"

    for kind, count, bucket in (
        (KeepReason.DAILY, counts.daily, bucket_day),
        (KeepReason.WEEKLY, counts.weekly, bucket_week),
        (KeepReason.MONTHLY, counts.monthly, bucket_month),
    ):
        seen: list[str] = []
        for b in verified:  # newest first: the first backup of a bucket is its newest
            key = bucket(_utc(b.taken_at))
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            add(b.id, kind, key)
    delete = tuple(b.id for b in reversed(ordered) if b.id not in keep)
    return Retention(keep={k: tuple(v) for k, v in keep.items()}, delete=delete)


def _utc(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.astimezone(UTC) if moment.tzinfo else moment


# --- runs on host groups -----------------------------------------------------------------------------------------


def check_group_run_settings(*, batch_size: int, max_failures: int, host_count: int, group_name: str) -> None:
    if host_count < 1:
        raise PolicyViolation(f"Host group “{group_name}” has no enabled host: nothing to run on.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise PolicyViolation(f"The batch size must be at least 1 host; got {batch_size}.")
    if not isinstance(max_failures, int) or max_failures < 1:
        raise PolicyViolation(
            f"Max failures must be at least 1 (1 = stop at the first failed host); got {max_failures}."
        )


def check_group_membership(*, role: str, host_count: int) -> None:
    """A host group is either every host with a role tag or an explicit list: exactly one of the two."""
    if role and host_count:
        raise PolicyViolation(
            f"Give either a role tag (“{role}”) or an explicit list of hosts ({host_count} chosen), not both."
        )
    if not role and not host_count:
        raise PolicyViolation("Give a role tag (every enabled host with it) or choose the hosts of the group.")


def group_order_key(*, position: int, name: str) -> tuple[int, str]:
    """Hosts run in position order, lower first; ties by name."""
    return (position, name)


def batch_number(index: int, batch_size: int) -> int:
    """The batch (1 first) of the host at `index` (0 first) in run order."""
    return index // batch_size + 1


def batch_count(host_count: int, batch_size: int) -> int:
    return max(1, -(-host_count // batch_size))


@dataclass(frozen=True)
class GroupDecision:
    action: str  # "wait" | "start_batch" | "stop" | "finish"
    batch: int  # the batch to start (start_batch), else the current one
    failed_hosts: int
    finished_hosts: int
    reason: str
    succeeded: bool = False  # for "finish": did every host succeed?


def group_run_next(
    *, statuses: Sequence[tuple[int, str]], current_batch: int, batches_total: int, max_failures: int
) -> GroupDecision:
    """What a group run does next, from its executions' (batch, status): wait for the current batch, start the
    next one, stop after `max_failures` failed hosts (the rest are not started), or finish."""
    host_count = len(statuses)
    done = [(b, s) for b, s in statuses if b <= current_batch and s in FINAL_STATUSES]
    failed = sum(1 for _, s in done if s in HOST_FAILED_STATUSES)
    in_batch = [s for b, s in statuses if b == current_batch]
    if any(s not in FINAL_STATUSES for s in in_batch):
        return GroupDecision("wait", current_batch, failed, len(done), f"batch {current_batch} is still running")
    if failed >= max_failures:
        remaining = sum(1 for b, _ in statuses if b > current_batch)
        hosts = "host" if host_count == 1 else "hosts"
        reason = f"{failed} of {host_count} {hosts} failed, max_failures {max_failures}"
        if remaining:
            reason = f"not started: {reason}"
        return GroupDecision("stop", current_batch, failed, len(done), reason)
    if current_batch < batches_total:
        return GroupDecision(
            "start_batch", current_batch + 1, failed, len(done), f"batch {current_batch} of {batches_total} finished"
        )
    if failed:
        reason = (
            f"every batch ran: {failed} of {host_count} hosts failed (fewer than max_failures {max_failures}), "
            f"{host_count - failed} succeeded"
        )
        return GroupDecision("finish", current_batch, failed, len(done), reason, succeeded=False)
    return GroupDecision("finish", current_batch, 0, len(done), f"all {host_count} hosts succeeded", succeeded=True)


def matrix_cell(steps: Sequence[tuple[int, str]], *, execution_status: str) -> tuple[str, int]:
    """One cell of a group run's host × step matrix, from the recorded (attempt, status) of that step's records:
    the status of its latest attempt (the worst of its records) and the number of attempts."""
    if not steps:
        if execution_status in (ExecutionStatus.PENDING, ExecutionStatus.QUEUED, ExecutionStatus.RUNNING):
            return "waiting", 0
        return "not_run", 0
    attempts = max(a for a, _ in steps)
    latest = [s for a, s in steps if a == attempts]
    for status in ("running", "lost", "timed_out", "cancelled", "failed"):
        if status in latest:
            return status, attempts
    return "succeeded", attempts
