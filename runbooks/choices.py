"""Runbook enumerations: execution and step states, the one transition table of an execution, colours."""

from django.db import models

from ersen_ops.core import choices as transitions


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its batch"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"
    LOST = "lost", "Lost (worker died)"


# The lifecycle. queued → running is the claim (a conditional UPDATE: exactly one worker wins);
# running → lost is the reaper's verdict on a worker that stopped sending heartbeats.
# pending: an execution of a host-group run whose batch has not started (queued when it does, cancelled when the
# run stops after too many failed hosts or is cancelled).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ExecutionStatus.PENDING: (ExecutionStatus.QUEUED, ExecutionStatus.CANCELLED),
    ExecutionStatus.QUEUED: (ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED),
    ExecutionStatus.RUNNING: (
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.LOST,
    ),
    ExecutionStatus.SUCCEEDED: (),
    ExecutionStatus.FAILED: (),
    ExecutionStatus.CANCELLED: (),
    ExecutionStatus.TIMED_OUT: (),
    ExecutionStatus.LOST: (),
}

ACTIVE_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
FINAL_STATUSES = tuple(s for s, targets in TRANSITIONS.items() if not targets)
# A finished execution in one of these states may be retried (as a new, linked execution).
RETRYABLE_STATUSES = (
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.TIMED_OUT,
    ExecutionStatus.LOST,
)

STATUS_COLOURS = {
    ExecutionStatus.PENDING: "#bdbdbd",
    ExecutionStatus.QUEUED: "#757575",
    ExecutionStatus.RUNNING: "#1565c0",
    ExecutionStatus.SUCCEEDED: "#2e7d32",
    ExecutionStatus.FAILED: "#c62828",
    ExecutionStatus.CANCELLED: "#9e9e9e",
    ExecutionStatus.TIMED_OUT: "#ef6c00",
    ExecutionStatus.LOST: "#6a1b9a",
}


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Lost (worker died)"


STEP_COLOURS = {
    StepStatus.RUNNING: "#1565c0",
    StepStatus.SUCCEEDED: "#2e7d32",
    StepStatus.FAILED: "#c62828",
    StepStatus.SKIPPED: "#757575",
    StepStatus.TIMED_OUT: "#ef6c00",
    StepStatus.CANCELLED: "#9e9e9e",
    StepStatus.LOST: "#6a1b9a",
}


class StepKind(models.TextChoices):
    CONNECT = "connect", "Connect"
    COMMAND = "command", "Remote command"
    DECISION = "decision", "Decision"
    CHECK = "check", "Check from the portal"
    VERIFY = "verify", "Verification"
    TRANSFER = "transfer", "Transfer through the portal"


class KeepReason(models.TextChoices):
    """Why the retention policy keeps a backup (`runbooks.policy.backup_retention`)."""

    NEWEST_VERIFIED = "newest_verified", "Newest verified backup"
    EVIDENCE = "evidence", "Evidence of a maintenance window"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    FUTURE = "future", "Taken after “now” (clock skew): never pruned"


class LaunchChannel(models.TextChoices):
    ADMIN = "admin", "Admin"
    WINDOW = "window", "Maintenance window page"
    CLI = "cli", "Command line"
    RETRY = "retry", "Retry"
    API = "api", "Operations API"
    SCHEDULE = "schedule", "Schedule"


def can_transition(current: str, target: str) -> bool:
    return transitions.can_transition(TRANSITIONS, current, target)


class GroupRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A run on a host group: queued at launch (its first batch queued), running once a host's execution has started,
# then succeeded (every host succeeded), failed (a host failed: stopped after max_failures failed hosts, or every
# batch ran with fewer failures than that) or cancelled by an operator.
GROUP_RUN_TRANSITIONS: dict[str, tuple[str, ...]] = {
    GroupRunStatus.QUEUED: (GroupRunStatus.RUNNING, GroupRunStatus.CANCELLED),
    GroupRunStatus.RUNNING: (GroupRunStatus.SUCCEEDED, GroupRunStatus.FAILED, GroupRunStatus.CANCELLED),
    GroupRunStatus.SUCCEEDED: (),
    GroupRunStatus.FAILED: (),
    GroupRunStatus.CANCELLED: (),
}
GROUP_RUN_ACTIVE_STATUSES = (GroupRunStatus.QUEUED, GroupRunStatus.RUNNING)
GROUP_RUN_FINAL_STATUSES = tuple(s for s, targets in GROUP_RUN_TRANSITIONS.items() if not targets)

GROUP_RUN_COLOURS = {
    GroupRunStatus.QUEUED: "#757575",
    GroupRunStatus.RUNNING: "#1565c0",
    GroupRunStatus.SUCCEEDED: "#2e7d32",
    GroupRunStatus.FAILED: "#c62828",
    GroupRunStatus.CANCELLED: "#9e9e9e",
}

# A host of a group run counts as failed when its execution ended in one of these (a host cancelled on its own
# did not get the change either: it counts, so a rolling change never silently skips a host).
HOST_FAILED_STATUSES = (
    ExecutionStatus.FAILED,
    ExecutionStatus.TIMED_OUT,
    ExecutionStatus.LOST,
    ExecutionStatus.CANCELLED,
)


class GroupRunAction(models.TextChoices):
    """Audit actions of a group run."""

    REQUESTED = "runbooks.group_run.requested", "Requested"
    STARTED = "runbooks.group_run.started", "Started"
    BATCH_STARTED = "runbooks.group_run.batch_started", "Batch started"
    STOPPED = "runbooks.group_run.stopped", "Stopped after failed hosts"
    CANCELLED = "runbooks.group_run.cancelled", "Cancelled"
    FINISHED = "runbooks.group_run.finished", "Finished"
