"""The nightly backup end to end with a real `qcluster` and two real sshd hosts: backup → off-host copy → prune, the
inventory written by the worker's finish service, and the backup freshness check beaten in the worker process (the
checks' listener of `runbooks.backup_events`, registered in that process's `ready()`)."""

from __future__ import annotations

import time

import pytest

from checks import services as check_services
from checks.choices import CheckState, HeartbeatSource
from checks.models import Check, CheckResult
from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks import services
from runbooks.choices import ExecutionStatus
from runbooks.models import Backup, BackupCopy
from tests.runbooks.factories import runbook_with_steps
from tests.runbooks.test_backups_copy import empty_offsite, offsite, offsite_sandbox  # noqa: F401 - fixtures
from tests.runbooks.test_worker import final

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_nightly_backup_run_by_the_worker_fills_the_inventory_and_beats_the_freshness_check(
    users,
    sandbox_host,
    sandbox,
    offsite,  # noqa: F811 - a fixture
    offsite_sandbox,  # noqa: F811 - a fixture
    worker,
):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    freshness = check_services.check_save(
        actor="system:test",
        check=Check(
            name="Nightly backup",
            type="heartbeat",
            heartbeat_source=HeartbeatSource.VERIFIED_BACKUP,
            heartbeat_period_seconds=26 * 3600,
            heartbeat_grace_seconds=0,
            interval_seconds=300,
            timeout_seconds=5,
            failures_to_down=1,
            successes_to_up=1,
            open_incident=True,
            incident_level="P2",
            resolve_after_quiet_minutes=0,
        ),
        components=[],
    )
    runbook = runbook_with_steps(
        "nightly-backup",
        [
            {"task": "backup_database"},
            {"task": "copy_backup_offhost", "params": {"destination": "offsite"}},
            {"task": "prune_backups"},
        ],
    )
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    execution = final(execution, timeout=120)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    backup = Backup.objects.get(execution=execution)
    copy = BackupCopy.objects.get(backup=backup)
    assert copy.destination == offsite and (offsite_sandbox.backups / backup.file_name).exists()
    assert execution.result["prune"]["kept"][0]["path"] == backup.path
    # The worker process announces it after the finish commits (so the run reads "succeeded" a moment before the
    # beat lands); the checks' listener there beats the check.
    deadline = time.monotonic() + 30
    freshness.refresh_from_db()
    while freshness.last_ping_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
        freshness.refresh_from_db()
    assert freshness.state == CheckState.UP and freshness.last_ping_at == execution.finished_at
    assert CheckResult.objects.get(health_check=freshness).checker == "runbooks"
    event = AuditEvent.objects.get(action="checks.heartbeat.backup_landed")
    assert event.data["execution"] == execution.pk and event.data["copies"] == [f"offsite:{copy.path}"]
