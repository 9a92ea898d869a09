"""Hosts, runbooks (ordered task-library steps) and their executions with every command and its output.

Models are thin: rules live in `policy.py` and `library.py`, state changes in `services.py`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from ersen_ops.core.validators import validate_single_line
from runbooks.choices import ExecutionStatus, GroupRunStatus, LaunchChannel, StepKind, StepStatus
from runbooks.policy import MAX_RETRY_DELAY, MAX_STEP_RETRIES

hostname_validator = RegexValidator(
    r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$",
    "A DNS name or an IP address (letters, digits, dots and dashes).",
)
ssh_user_validator = RegexValidator(r"^[a-z_][a-z0-9_-]{0,31}$", "A Unix user name (a-z, digits, _ and -).")
roles_validator = RegexValidator(
    r"^\s*([a-z0-9_-]+)(\s*,\s*[a-z0-9_-]+)*\s*$|^\s*$",
    "Comma-separated role tags, e.g. “db, web” (a-z, digits, _ and -).",
)


class Host(models.Model):
    """A machine runbooks run on. Its SSH host key is pinned explicitly; the private key never lives here."""

    name = models.SlugField(max_length=60, unique=True, help_text="Short name used on the command line, e.g. “prod-1”.")
    hostname = models.CharField(max_length=253, validators=[hostname_validator, validate_single_line])
    port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    ssh_user = models.CharField(
        "SSH user", max_length=32, default="deploy", validators=[ssh_user_validator, validate_single_line]
    )
    roles = models.CharField(
        max_length=200,
        blank=True,
        validators=[roles_validator, validate_single_line],
        help_text="Comma-separated role tags (e.g. “db, web”); a runbook's default host role picks hosts by these.",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled hosts cannot be targeted.")
    position = models.PositiveIntegerField(
        default=100, help_text="Order within group runs; lower first (ties by name)."
    )
    components = models.ManyToManyField(
        "status.Component",
        related_name="hosts",
        blank=True,
        help_text="What runs on this host. Post-launch, runs outside an in-progress window of these need a justification.",
    )
    parameter_defaults = models.JSONField(
        default=dict,
        blank=True,
        help_text='Task parameter values specific to this host, e.g. {"backup_dir": "/srv/backups"}. '
        "Validated against the task library like any other parameter.",
    )
    notes = models.TextField(blank=True)
    # The pinned host key: set only by the "Fetch and pin host key" action.
    host_key_type = models.CharField(max_length=50, blank=True, editable=False)
    host_key = models.TextField(blank=True, editable=False, help_text="Base64 public host key (not a secret).")
    host_key_fingerprint = models.CharField(max_length=100, blank=True, editable=False)
    host_key_pinned_at = models.DateTimeField(null=True, blank=True, editable=False)
    host_key_pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pinned_hosts",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("pin_host_key", "Can fetch and pin a host's SSH key")]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        return f"{self.ssh_user}@{self.hostname}:{self.port}"

    @property
    def role_list(self) -> list[str]:
        return [r.strip() for r in self.roles.split(",") if r.strip()]

    @property
    def is_pinned(self) -> bool:
        return bool(self.host_key and self.host_key_fingerprint)


role_tag_validator = RegexValidator(r"^[a-z0-9_-]+$", "One role tag (a-z, digits, _ and -), e.g. “web”.")


class HostGroup(models.Model):
    """Hosts a runbook can run on together, in batches: every enabled host with a role tag, or an explicit list."""

    name = models.CharField(max_length=120, unique=True, validators=[validate_single_line])
    slug = models.SlugField(max_length=60, unique=True, help_text="Used on the command line and in schedules.")
    description = models.TextField(blank=True)
    role = models.CharField(
        "role tag",
        max_length=40,
        blank=True,
        validators=[role_tag_validator, validate_single_line],
        help_text="Every enabled host with this role tag (e.g. “web”), as they are at launch. "
        "Give either a role tag or an explicit list of hosts, not both.",
    )
    hosts = models.ManyToManyField(
        Host,
        blank=True,
        related_name="groups",
        help_text="An explicit list of hosts (disabled ones are left out at launch). Either this or a role tag.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GroupRun(models.Model):
    """A run of a runbook on a host group: one execution per host, `batch_size` hosts at a time, stopped after
    `max_failures` failed hosts. This row is the parent; each host's execution is its own record."""

    runbook = models.ForeignKey("Runbook", on_delete=models.PROTECT, related_name="group_runs")
    host_group = models.ForeignKey(HostGroup, on_delete=models.PROTECT, related_name="runs")
    runbook_name = models.CharField(max_length=120)
    group_name = models.CharField(max_length=120)
    hosts_snapshot = models.JSONField(
        default=list, help_text="The group's hosts at launch, in run order (position, then name)."
    )
    batch_size = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Hosts run at the same time (one batch)."
    )
    max_failures = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Stop (the remaining hosts are not started) once this many hosts failed; 1 = at the first.",
    )
    batches_total = models.PositiveIntegerField(default=1)
    current_batch = models.PositiveIntegerField(default=0, help_text="The batch running now (0: none yet).")
    overrides = models.JSONField(default=dict, blank=True, help_text="Parameter values given at launch.")
    window = models.ForeignKey(
        "maintenance.MaintenanceWindow",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runbook_group_runs",
    )
    justification = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=GroupRunStatus.choices, default=GroupRunStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="runbook_group_runs"
    )
    requested_by_name = models.CharField(max_length=150)
    requested_at = models.DateTimeField()
    requested_via = models.CharField(max_length=20, choices=LaunchChannel.choices, default=LaunchChannel.ADMIN)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by_name = models.CharField(max_length=150, blank=True)
    cancel_reason = models.TextField(blank=True)
    outcome = models.TextField(blank=True, help_text="Why it ended as it did, with the numbers.")

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "run on a host group"
        verbose_name_plural = "runs on host groups"
        constraints = [
            models.CheckConstraint(condition=Q(batch_size__gte=1), name="group_run_batch_size_positive"),
            models.CheckConstraint(condition=Q(max_failures__gte=1), name="group_run_max_failures_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.runbook_name} on group {self.group_name}"


class Runbook(models.Model):
    """A reviewed procedure: ordered steps from the task library with their parameters."""

    name = models.CharField(max_length=120, unique=True, validators=[validate_single_line])
    slug = models.SlugField(
        max_length=60, unique=True, help_text="Used on the command line: manage.py runbook run SLUG"
    )
    description = models.TextField(blank=True)
    default_host_role = models.CharField(
        max_length=40,
        blank=True,
        validators=[validate_single_line],
        help_text="Role tag of the hosts this runbook is usually run on (e.g. “db”).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("run_runbook", "Can launch runbooks")]

    def __str__(self) -> str:
        return self.name


class RunbookStep(models.Model):
    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField(default=1)
    task = models.CharField(
        max_length=60,
        validators=[validate_single_line],
        help_text="A task of the reviewed task library (runbooks/library.py).",
    )
    params = models.JSONField(
        "parameters",
        default=dict,
        blank=True,
        help_text="Values for the task's declared parameters; anything not given uses the task's default.",
    )
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per-command timeout on the host; blank uses the task's default."
    )
    retries = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_STEP_RETRIES)],
        help_text=f"Run a failed step again up to this many times (0–{MAX_STEP_RETRIES}); only for tasks the "
        "library marks idempotent (safe to run twice). A timed-out or cancelled step is never retried.",
    )
    retry_delay = models.PositiveIntegerField(
        "retry delay (seconds)",
        default=10,
        validators=[MaxValueValidator(MAX_RETRY_DELAY)],
        help_text=f"Seconds to wait before each retry (0–{MAX_RETRY_DELAY}); a cancel during the wait is honoured.",
    )

    class Meta:
        ordering = ["runbook", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["runbook", "order"], name="runbook_step_order_unique")]

    def __str__(self) -> str:
        return f"{self.order}. {self.task}"


class RunbookExecution(models.Model):
    """One run of a runbook on a host. This row — not django-q's task table — is the record."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="executions")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="executions")
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="runbook_executions"
    )
    requested_by_name = models.CharField(max_length=150, help_text="User name or system actor (kept if the user goes).")
    requested_at = models.DateTimeField()
    requested_via = models.CharField(max_length=20, choices=LaunchChannel.choices, default=LaunchChannel.ADMIN)
    window = models.ForeignKey(
        "maintenance.MaintenanceWindow",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runbook_executions",
        help_text="The maintenance window this run belongs to (a verified backup is evidence for its checklist).",
    )
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retries",
        help_text="The run this one retries.",
    )
    group_run = models.ForeignKey(
        "GroupRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="executions",
        help_text="The run on a host group this execution is one host of.",
    )
    batch = models.PositiveIntegerField(null=True, blank=True, help_text="Its batch within the group run (1 first).")
    # Snapshot taken at launch: editing the runbook or host later does not change a run.
    plan = models.JSONField(default=list, help_text="Steps with their resolved parameters and timeouts, as launched.")
    host_snapshot = models.JSONField(default=dict)
    runbook_name = models.CharField(max_length=120)
    justification = models.TextField(blank=True)
    outside_window = models.BooleanField(
        default=False, help_text="Post-launch run outside an in-progress window of the host's components (flagged)."
    )
    # Worker bookkeeping.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField("django-q task id", max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker process that ran it.")
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    # Cancellation.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_requested_by_name = models.CharField(max_length=150, blank=True)
    cancel_reason = models.TextField(blank=True)
    # Outcome.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="Human-readable reason of a failure.")

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("cancel_runbookexecution", "Can cancel runbook executions")]
        constraints = [
            # One running execution per host, enforced by the database as well as by the claim.
            models.UniqueConstraint(
                fields=["host"], condition=Q(status="running"), name="runbook_one_running_execution_per_host"
            ),
        ]
        indexes = [
            models.Index(fields=["host", "status", "requested_at"], name="runbook_exec_host_status_idx"),
            # The admin list's order (newest first) without a sort at any size.
            models.Index(fields=["-requested_at", "-id"], name="runbook_exec_requested_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="runbook_exec_heartbeat_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.runbook_name} on {self.host_snapshot.get('name', self.host_id)}"

    @property
    def is_active(self) -> bool:
        return self.status in (ExecutionStatus.PENDING, ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ExecutionStep(models.Model):
    """One thing an execution did: a connection, an exact remote command, a decision, or a check from the portal."""

    execution = models.ForeignKey(RunbookExecution, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField()
    plan_index = models.PositiveIntegerField(help_text="Index of the runbook step (in the plan) this belongs to.")
    attempt = models.PositiveSmallIntegerField(
        default=1, help_text="Which attempt of its runbook step this belongs to (above 1: a retry)."
    )
    task = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    label = models.CharField(max_length=300)
    command = models.TextField(blank=True, help_text="The exact command line sent to the host.")
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    # Output is capped: the first 64 KiB and the last 256 KiB of each stream are kept.
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    stdout_bytes = models.BigIntegerField(default=0, help_text="Bytes the command wrote to stdout.")
    stderr_bytes = models.BigIntegerField(default=0)
    stdout_dropped = models.BigIntegerField(default=0, help_text="Bytes of stdout not kept (beyond the cap).")
    stderr_dropped = models.BigIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["execution", "order"]
        constraints = [models.UniqueConstraint(fields=["execution", "order"], name="execution_step_order_unique")]

    def __str__(self) -> str:
        return f"{self.order}. {self.label}"

    @property
    def duration(self):
        if self.finished_at and self.started_at:
            return self.finished_at - self.started_at
        return None


class Backup(models.Model):
    """A verified dump on a host: the inventory the retention policy, the off-host copy and the restore check read.

    Written only by the worker's finish service from a run's verified result (`runbooks.services.backups`), never by
    the library task itself; pruning marks it (the row stays, as the record of what existed and who deleted it).
    """

    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="backups")
    path = models.CharField(max_length=500, help_text="The dump file on the host.")
    size = models.BigIntegerField(help_text="Bytes.")
    sha256 = models.CharField("SHA-256", max_length=64)
    taken_at = models.DateTimeField(help_text="When the dump was written (the retention policy's calendar, UTC).")
    execution = models.ForeignKey(
        RunbookExecution,
        on_delete=models.PROTECT,
        related_name="backups_made",
        help_text="The run that made and verified it.",
    )
    verified = models.BooleanField(
        default=False, help_text="pg_dump's header and completion line present, size and SHA-256 recorded."
    )
    restore_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time it restored cleanly into a scratch database (verify_restore)."
    )
    restore_execution = models.ForeignKey(
        RunbookExecution,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backups_restore_verified",
        help_text="The run that restored it into a scratch database.",
    )
    pruned_at = models.DateTimeField(null=True, blank=True, help_text="When prune_backups deleted the file.")
    pruned_by = models.ForeignKey(
        RunbookExecution,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backups_pruned",
        help_text="The prune_backups run that deleted it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "path"], condition=Q(pruned_at__isnull=True), name="backup_one_live_row_per_file"
            ),
        ]
        indexes = [models.Index(fields=["host", "-taken_at"], name="backup_host_taken_idx")]

    def __str__(self) -> str:
        return f"{self.host} {self.path}"

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class BackupCopy(models.Model):
    """A copy of a backup on another host, whose SHA-256 was computed there and matched the inventory's."""

    backup = models.ForeignKey(Backup, on_delete=models.PROTECT, related_name="copies")
    destination = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="backup_copies_held")
    path = models.CharField(max_length=500, help_text="The copy's file on the destination host.")
    sha256 = models.CharField("SHA-256 on the destination", max_length=64)
    verified_at = models.DateTimeField(help_text="When sha256sum on the destination matched the inventory.")
    execution = models.ForeignKey(RunbookExecution, on_delete=models.PROTECT, related_name="backup_copies_made")

    class Meta:
        ordering = ["-verified_at", "-id"]
        verbose_name_plural = "backup copies"
        constraints = [
            models.UniqueConstraint(fields=["backup", "destination", "path"], name="backup_copy_unique_per_place"),
        ]

    def __str__(self) -> str:
        return f"{self.backup.file_name} on {self.destination}"
