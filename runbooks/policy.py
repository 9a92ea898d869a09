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
