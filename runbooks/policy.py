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
from runbooks.choices import ExecutionStatus

MIN_JUSTIFICATION_CHARS = 15
# Failed, timed-out and lost runs are reported here.
FAILURE_ALERT_CHANNELS = (Channel.SLACK,)
MIN_STEP_TIMEOUT = 5


@dataclass(frozen=True)
class PlannedStep:
    order: int
    task: str
    params: dict
    timeout: int

    def as_dict(self) -> dict:
        return {"order": self.order, "task": self.task, "params": self.params, "timeout": self.timeout}


def validate_step(*, task: str, params: dict, timeout_seconds: int | None, max_timeout: int) -> dict:
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
        plan.append(PlannedStep(order=order, task=step["task"], params=params, timeout=timeout))
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
