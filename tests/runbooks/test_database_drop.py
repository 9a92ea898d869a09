"""A real qcluster and the sshd sandbox, while PostgreSQL drops the worker's connections mid-command.

- A drop (pg_terminate_backend of every other backend of the test database) while a step runs: the worker
  reconnects, and the run ends in its true state — succeeded, exit 0, every step recorded.
- A database that stays away longer than OPS_DB_RETRY_SECONDS: the worker stops the remote command on the host
  (it must not run unobserved) and, once the database answers again, records the run as failed, in words.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks import services
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from tests.processes import Worker, worker_env
from tests.runbooks.factories import runbook_with_steps
from tests.runbooks.test_worker import final, pid_gone, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RETRY_SECONDS = 3


@pytest.fixture
def impatient_worker(transactional_postgres, sandbox, ssh_key, tmp_path):
    """A qcluster that gives up on the database after RETRY_SECONDS (production: 30)."""
    from ersen_ops.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.all().delete()
    w = Worker(
        worker_env(key_file=str(sandbox.client_key), OPS_DB_RETRY_SECONDS=RETRY_SECONDS), tmp_path / "qcluster.log"
    )
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def terminate_other_backends() -> int:
    """End every connection to the test database but this test's own (what a restart or failover does)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@contextmanager
def database_away():
    """New connections to the test database are refused until the block ends (this test's own one stays).

    PostgreSQL refuses to change that for the database a session is connected to: the switch is thrown from
    a connection to the `postgres` maintenance database.
    """
    import psycopg

    s = connection.settings_dict
    name = connection.ops.quote_name(s["NAME"])
    admin = psycopg.connect(
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        user=s.get("USER") or "postgres",
        password=s.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        try:
            terminate_other_backends()
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
    finally:
        admin.close()


def test_a_dropped_connection_mid_command_is_reconnected_and_the_run_ends_succeeded(
    impatient_worker, users, sandbox_host, sandbox
):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f'if [ "$1" = compose ]; then echo $$ > {pidfile}; sleep 4; fi')
    runbook = runbook_with_steps("restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    wait_for(pidfile.exists, 30, what="the remote command to start")

    assert terminate_other_backends() >= 2  # at least the runner and its heartbeat thread

    final(execution, timeout=60)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.error == ""
    command = execution.steps.get(kind=StepKind.COMMAND)
    assert command.status == StepStatus.SUCCEEDED and command.exit_code == 0
    assert "Container ersen-traefik-1  Restarting" in command.stdout
    assert [s.status for s in execution.steps.order_by("order")] == [StepStatus.SUCCEEDED] * 2  # connect, restart
    finished = AuditEvent.objects.get(action="runbooks.execution.finished", target_id=str(execution.pk))
    assert finished.data["after"] == {"status": ExecutionStatus.SUCCEEDED}
    log = impatient_worker.log.read_text()
    assert "database connection lost during" in log and "database reconnected" in log


def test_a_database_away_too_long_stops_the_remote_command_and_the_run_ends_failed_in_words(
    impatient_worker, users, sandbox_host, sandbox
):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f"echo $$ > {pidfile}; exec sleep 120")
    runbook = runbook_with_steps(
        "restart", [{"task": "restart_service", "params": {"site_url": ""}, "timeout_seconds": 90}]
    )
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    wait_for(pidfile.exists, 30, what="the remote command to start")
    remote_pid = int(pidfile.read_text())

    with database_away():
        # Nobody can watch or cancel the command now: after RETRY_SECONDS the worker stops it on the host.
        wait_for(lambda: pid_gone(remote_pid), 30, what="the worker to stop the remote command")
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.RUNNING  # nothing could be written yet

    final(execution, timeout=30)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith("Step 1 of 1 (Restart a service and check TLS): The worker lost the database")
    assert f"the limit is OPS_DB_RETRY_SECONDS={RETRY_SECONDS}" in execution.error
    assert "so the worker stopped it (the command was stopped on the host" in execution.error
    assert "Check the host before retrying." in execution.error
    command = execution.steps.get(kind=StepKind.COMMAND)
    assert command.status == StepStatus.FAILED and "The worker lost the database" in command.error
    finished = AuditEvent.objects.get(action="runbooks.execution.finished", target_id=str(execution.pk))
    assert finished.data["after"] == {"status": ExecutionStatus.FAILED}
    assert "lost the database" in finished.data["error"]
    assert "giving up: the database was unreachable" in impatient_worker.log.read_text()
