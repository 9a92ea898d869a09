"""verify_restore on the sshd sandbox, whose `docker exec … psql/createdb/dropdb` reach the real PostgreSQL of the
test run: the newest verified dump restores into a uniquely named scratch database, is counted, and the scratch
database is always dropped — after a failing restore too (a cleanup step of its own)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks.choices import ExecutionStatus, StepStatus
from runbooks.models import Backup
from tests.runbooks.factories import ExecutionFactory
from tests.runbooks.test_execution import launch_and_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _prelaunch(transactional_postgres):
    site_settings_set_phase(actor="system:test", phase="prelaunch")


def database_exists(name: str) -> bool:
    """Asked by name: another test process (pytest-xdist) may be restoring into a scratch database of its own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def test_the_dump_of_the_run_restores_into_a_scratch_database_that_is_dropped(users, sandbox_host):
    execution = launch_and_run(
        users,
        sandbox_host,
        [
            {"task": "backup_database"},
            {"task": "verify_restore", "params": {"check_table": "runbooks_host", "min_rows": "1"}},
        ],
        slug="restore-verification",
    )
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    outcome = execution.result["restore_verification"]
    scratch = outcome["database"]
    assert scratch.startswith(f"ersen_restore_check_{execution.pk}_") and len(scratch) <= 63
    assert outcome["ok"] is True and outcome["tables"] > 20 and outcome["rows"] == {"runbooks_host": 1}
    assert outcome["scratch_dropped"] is True and not database_exists(scratch)
    labels = list(execution.steps.order_by("order").values_list("label", flat=True))
    assert labels[-1] == f"Drop the scratch database {scratch}"
    assert f"Restore verified: {outcome['tables']} tables, 1 rows in runbooks_host in {scratch}" in labels
    backup = Backup.objects.get(execution=execution)
    assert backup.restore_execution_id == execution.pk and backup.restore_verified_at == execution.finished_at
    event = AuditEvent.objects.get(action="runbooks.backup.restore_verified")
    assert event.target_id == str(backup.pk) and event.data["database"] == scratch


def broken_backup(sandbox, host, *, sha256=None) -> Backup:
    """An inventory backup whose file has pg_dump's header and completion line but SQL that does not restore."""
    data = (
        b"--\n-- PostgreSQL database dump\n--\n"
        b"CREATE TABLE public.fine (id integer);\n"
        b"INSERT INTO public.no_such_table VALUES (1);\n"
        b"--\n-- PostgreSQL database dump complete\n--\n"
    )
    path = sandbox.backups / "backup_20261201.sql"
    path.write_bytes(data)
    execution = ExecutionFactory(host=host, status=ExecutionStatus.SUCCEEDED, plan=[{"task": "backup_database"}])
    return Backup.objects.create(
        host=host,
        path=str(path),
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        taken_at=timezone.now() - timedelta(hours=3),
        execution=execution,
        verified=True,
    )


def test_a_failing_restore_still_drops_the_scratch_database(users, sandbox_host, sandbox):
    backup = broken_backup(sandbox, sandbox_host)
    execution = launch_and_run(users, sandbox_host, [{"task": "verify_restore"}], slug="restore-verification")
    assert execution.status == ExecutionStatus.FAILED
    assert f"Restoring {backup.path} into the scratch database" in execution.error
    assert 'relation "public.no_such_table" does not exist' in execution.error
    outcome = execution.result["restore_verification"]
    assert outcome["ok"] is False and outcome["scratch_dropped"] is True
    assert not database_exists(outcome["database"])
    cleanup = execution.steps.get(label=f"Drop the scratch database {outcome['database']} (after the step failed)")
    assert cleanup.status == StepStatus.SUCCEEDED and "dropdb" in cleanup.command
    backup.refresh_from_db()
    assert backup.restore_verified_at is None
    assert not AuditEvent.objects.filter(action="runbooks.backup.restore_verified").exists()


def test_a_dump_that_changed_since_it_was_verified_is_not_restored(users, sandbox_host, sandbox):
    broken_backup(sandbox, sandbox_host, sha256="f" * 64)
    execution = launch_and_run(users, sandbox_host, [{"task": "verify_restore"}], slug="restore-verification")
    assert execution.status == ExecutionStatus.FAILED
    assert "not the inventory's ffff" in execution.error and "not restoring it" in execution.error
    assert not execution.steps.filter(label__startswith="Create the scratch database").exists()  # nor dropped


def test_without_a_verified_backup_there_is_nothing_to_restore(users, sandbox_host):
    execution = launch_and_run(users, sandbox_host, [{"task": "verify_restore"}], slug="restore-verification")
    assert execution.status == ExecutionStatus.FAILED
    assert "has no verified backup in the inventory (and this run made none)" in execution.error
