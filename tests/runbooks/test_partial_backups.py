"""A backup that fails, times out or is cancelled leaves no `.partial-N` file in the backup folder: the task removes
it on the host (the real sshd sandbox) and records that it did — a step of its own, its audit event, the result."""

from __future__ import annotations

import threading
import time

import pytest

from ersen_ops.audit.models import AuditEvent
from runbooks import runner, services
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from tests.runbooks.factories import runbook_with_steps
from tests.runbooks.test_execution import launch_and_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# pg_dump writes a first line into the partial file, then misbehaves.
STARTS_DUMPING = "echo '-- PostgreSQL database dump'"


@pytest.fixture(autouse=True)
def _prelaunch(transactional_db):
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="prelaunch")


def assert_partial_removed(execution, sandbox, outcome: str):
    assert not list(sandbox.backups.glob("*.partial-*")), "no incomplete dump is left in the backup folder"
    assert not list(sandbox.backups.glob("backup_*.sql")), "and nothing that looks like a backup"
    partial = execution.result["partial_removed"]
    assert partial.startswith(str(sandbox.backups)) and partial.endswith(f".partial-{execution.pk}")
    step = execution.steps.get(label__startswith="Remove the incomplete dump")
    assert step.label == f"Remove the incomplete dump {partial} (after the step {outcome})"
    assert step.kind == StepKind.COMMAND and step.status == StepStatus.SUCCEEDED and step.exit_code == 0
    assert "rm -f" in step.command
    exited = AuditEvent.objects.filter(action="runbooks.command.exited", target_id=str(execution.pk))
    assert any(e.data["label"] == step.label and e.data["exit_code"] == 0 for e in exited)
    result = AuditEvent.objects.get(action="runbooks.execution.result", target_id=str(execution.pk))
    assert result.data["partial_removed"] == partial


def test_a_failed_dump_removes_its_partial_file(users, sandbox_host, sandbox):
    sandbox.set_behaviour("pg_dump", f"{STARTS_DUMPING}; echo 'pg_dump: error: connection lost' >&2; exit 1")
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.FAILED
    assert "pg_dump failed; its incomplete output is removed, never kept as a backup (exit code 1)" in execution.error
    assert_partial_removed(execution, sandbox, "failed")


def test_a_timed_out_dump_removes_its_partial_file(users, sandbox_host, sandbox):
    sandbox.set_behaviour("pg_dump", f"{STARTS_DUMPING}; exec sleep 600")
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database", "timeout_seconds": 5}])
    assert execution.status == ExecutionStatus.TIMED_OUT, execution.error
    assert_partial_removed(execution, sandbox, "timed out")


def test_a_cancelled_dump_removes_its_partial_file(users, sandbox_host, sandbox):
    pidfile = sandbox.root / "pids" / "pg_dump"
    sandbox.set_behaviour("pg_dump", f"{STARTS_DUMPING}; echo $$ > {pidfile}; exec sleep 600")
    runbook = runbook_with_steps("backup", [{"task": "backup_database"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    thread = threading.Thread(target=runner.run_execution, args=(execution.pk,))
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), "pg_dump started"
        assert list(sandbox.backups.glob("*.partial-*")), "the partial file exists while the dump runs"
        services.execution_cancel(actor=users["operator"], execution=execution, reason="wrong database")
    finally:
        thread.join(timeout=30)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED, execution.error
    assert_partial_removed(execution, sandbox, "was cancelled")
