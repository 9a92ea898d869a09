"""Executions run in-process against the real sshd sandbox: every outcome, its record and its audit trail.

Transactional: the runner's heartbeat thread has its own database connection, like in a worker.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from runbooks import runner, services
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from runbooks.models import RunbookExecution
from tests.runbooks.factories import runbook_with_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _prelaunch(transactional_db, settings):
    # These tests are about running; the post-launch window rule has its own tests.
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="prelaunch")


def actions(execution) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=str(execution.pk), target_type__model="runbookexecution")
        .order_by("id")
        .values_list("action", flat=True)
    )


def launch_and_run(users, host, steps, *, slug="rb", **kwargs) -> RunbookExecution:
    runbook = runbook_with_steps(slug, steps)
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=host, **kwargs)
    runner.run_execution(execution.pk)
    execution.refresh_from_db()
    return execution


def test_backup_runs_over_ssh_and_is_verified(users, sandbox_host, sandbox):
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    result = execution.result
    path = Path(result["path"])
    assert result["verified"] is True and path.parent == sandbox.backups
    assert path.name == f"backup_{timezone.now():%Y%m%d}.sql"
    data = path.read_bytes()
    assert result["size"] == len(data) > 0
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert b"-- PostgreSQL database dump complete" in data[-500:]
    assert not list(sandbox.backups.glob("*.partial-*"))
    # The exact command ran through the shim, wrapped in `timeout N` on the host.
    assert ["docker", "exec", "ersen-db-1", "pg_dump", "-U", "ersen", "ersen"] in sandbox.shim_calls()
    steps = list(execution.steps.order_by("order"))
    assert steps[0].kind == StepKind.CONNECT and steps[0].status == StepStatus.SUCCEEDED
    dump = next(s for s in steps if "pg_dump" in s.command)
    assert dump.command.startswith("timeout --kill-after=5s 1200s sh -c ") and dump.exit_code == 0
    assert all(s.status == StepStatus.SUCCEEDED for s in steps)
    assert all(s.finished_at and s.finished_at >= s.started_at for s in steps)
    events = actions(execution)
    assert events[:2] == ["runbooks.execution.requested", "runbooks.execution.started"]
    assert events.count("runbooks.command.started") == events.count("runbooks.command.exited") >= 6
    assert "runbooks.check.passed" in events
    assert events[-2:] == ["runbooks.execution.finished", "runbooks.execution.result"]
    assert execution.task_id == "" and execution.worker.endswith(f":{os.getpid()}")


def test_backup_never_overwrites_the_days_file(users, sandbox_host, sandbox):
    daily = sandbox.backups / f"backup_{timezone.now():%Y%m%d}.sql"
    daily.write_text("an older backup\n")
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert daily.read_text() == "an older backup\n"
    assert execution.result["path"] != str(daily) and execution.result["path"].startswith(str(daily)[:-4] + "_")
    decision = execution.steps.get(kind=StepKind.DECISION)
    assert "already exists: never overwrite" in decision.label and decision.detail == {"action": "rename"}


def test_a_truncated_dump_fails_verification_with_the_reason(users, sandbox_host, sandbox):
    sandbox.set_behaviour(
        "pg_dump", "printf -- '--\\n-- PostgreSQL database dump\\n--\\nCREATE TABLE t (id int);\\n'; exit 0"
    )
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.FAILED
    assert "failed verification" in execution.error and "completion line" in execution.error
    assert execution.result.get("verified") is not True


def test_a_non_zero_exit_fails_with_the_exit_code_and_stderr(users, sandbox_host, sandbox):
    sandbox.set_behaviour("docker", 'if [ "$1" = compose ]; then echo "no such service: traefik" >&2; exit 3; fi')
    execution = launch_and_run(users, sandbox_host, [{"task": "restart_service", "params": {"site_url": ""}}])
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == (
        "Step 1 of 1 (Restart a service and check TLS): “Restart traefik” failed (exit code 3): no such service: traefik"
    )
    step = execution.steps.get(kind=StepKind.COMMAND)
    assert step.exit_code == 3 and step.status == StepStatus.FAILED and "no such service" in step.stderr
    assert "runbooks.command.exited" in actions(execution)


def test_unlock_is_idempotent_and_records_each_decision(users, sandbox_host, sandbox):
    first = launch_and_run(users, sandbox_host, [{"task": "unlock_encrypted_volume"}], slug="unlock")
    assert first.status == ExecutionStatus.SUCCEEDED, first.error
    decisions = list(first.steps.filter(kind=StepKind.DECISION).values_list("label", flat=True))
    assert decisions == [
        "/dev/mapper/ersen_encrypted is not open (cryptsetup status exit 4): opening it",
        "/mnt/encrypted_postgres is not mounted: mounting /dev/mapper/ersen_encrypted",
    ]
    calls = sandbox.shim_calls()
    assert [
        "sudo",
        "cryptsetup",
        "luksOpen",
        "--key-file=/root/.ersen_luks_key",
        "/var/lib/ersen_encrypted.img",
        "ersen_encrypted",
    ] in calls
    assert ["sudo", "mount", "/dev/mapper/ersen_encrypted", "/mnt/encrypted_postgres"] in calls
    assert [
        "docker",
        "compose",
        "-f",
        "docker-compose.prod.yml",
        "-f",
        "docker-compose.encrypted.yml",
        "up",
        "-d",
    ] in calls

    second = services.execution_launch(actor=users["operator"], runbook=first.runbook, host=sandbox_host)
    runner.run_execution(second.pk)
    second.refresh_from_db()
    assert second.status == ExecutionStatus.SUCCEEDED, second.error
    decisions = list(second.steps.filter(kind=StepKind.DECISION).values_list("label", flat=True))
    assert decisions == [
        "/dev/mapper/ersen_encrypted is already open: skipping luksOpen",
        "/mnt/encrypted_postgres is already mounted: skipping mount",
    ]
    opens = [c for c in sandbox.shim_calls() if c[:3] == ["sudo", "cryptsetup", "luksOpen"]]
    mounts = [c for c in sandbox.shim_calls() if c[:2] == ["sudo", "mount"]]
    assert len(opens) == 1 and len(mounts) == 1, "a second run opens and mounts nothing"


def test_restart_then_tls_check_fails_with_the_reason_and_passes_with_the_ca(users, sandbox_host, tmp_path):
    from runbooks.sandbox import TLSServer, make_certificates

    certs = make_certificates(tmp_path / "tls", hostname="localhost")
    site = TLSServer(certs["cert"], certs["key"]).start()
    try:
        url = f"https://localhost:{site.port}"
        failed = launch_and_run(
            users, sandbox_host, [{"task": "restart_service", "params": {"site_url": url, "tls_wait_seconds": "0"}}]
        )
        assert failed.status == ExecutionStatus.FAILED
        assert "not accepted" in failed.error and "local issuer" in failed.error
        check = failed.steps.get(kind=StepKind.CHECK)
        assert check.status == StepStatus.FAILED and check.detail["reason"] == "untrusted"
        ok = launch_and_run(
            users,
            sandbox_host,
            [
                {
                    "task": "restart_service",
                    "params": {"site_url": url, "tls_wait_seconds": "0", "cafile": str(certs["ca"])},
                }
            ],
            slug="rb2",
        )
        assert ok.status == ExecutionStatus.SUCCEEDED, ok.error
        assert ok.result["tls"]["ok"] is True and ok.result["tls"]["days_left"] > 80
        assert "runbooks.check.passed" in actions(ok)
    finally:
        site.stop()


def test_smoke_test_records_each_check(users, sandbox_host, tmp_path):
    from runbooks.sandbox import TLSServer, make_certificates

    certs = make_certificates(tmp_path / "tls", hostname="localhost")
    site = TLSServer(certs["cert"], certs["key"]).start()
    try:
        base = f"https://localhost:{site.port}"
        checks = f"{base}/login 200\n{base}/widgets 200\n{base}/missing 200"
        execution = launch_and_run(
            users, sandbox_host, [{"task": "smoke_test", "params": {"checks": checks, "cafile": str(certs["ca"])}}]
        )
    finally:
        site.stop()
    assert execution.status == ExecutionStatus.FAILED
    assert "1 of 3 smoke checks failed" in execution.error and "answered 404, expected 200" in execution.error
    statuses = list(execution.steps.filter(kind=StepKind.CHECK).order_by("order").values_list("status", flat=True))
    assert statuses == [StepStatus.SUCCEEDED, StepStatus.SUCCEEDED, StepStatus.FAILED]
    assert not execution.steps.filter(kind=StepKind.CONNECT).exists(), "HTTP checks from the portal need no SSH"


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return state == "Z"


def test_a_command_past_its_timeout_is_stopped_on_the_host(users, sandbox_host, sandbox):
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f"echo $$ > {pidfile}; exec sleep 600")
    started = time.monotonic()
    execution = launch_and_run(
        users, sandbox_host, [{"task": "restart_service", "params": {"site_url": ""}, "timeout_seconds": 5}]
    )
    assert time.monotonic() - started < 30
    assert execution.status == ExecutionStatus.TIMED_OUT
    assert "was still running after its 5 s timeout: the host stopped it" in execution.error
    step = execution.steps.get(kind=StepKind.COMMAND)
    assert step.status == StepStatus.TIMED_OUT and step.exit_code == 124
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pid_gone(pid), "the remote command must not outlive its timeout"


def test_huge_output_is_capped_and_the_dropped_bytes_counted(users, sandbox_host, sandbox):
    sandbox.set_behaviour(
        "docker",
        'if [ "$1" = compose ]; then head -c 3000000 /dev/zero | tr "\\000" "y"; echo; echo LAST-LINE; exit 0; fi',
    )
    execution = launch_and_run(users, sandbox_host, [{"task": "restart_service", "params": {"site_url": ""}}])
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    step = execution.steps.get(kind=StepKind.COMMAND)
    assert step.stdout_bytes == 3_000_000 + 1 + len("LAST-LINE\n")
    assert step.stdout_dropped == step.stdout_bytes - 64 * 1024 - 256 * 1024
    assert len(step.stdout) < 330 * 1024 and step.stdout.rstrip().endswith("LAST-LINE")
    assert f"[{step.stdout_dropped} bytes dropped" in step.stdout


def test_a_bad_launch_parameter_is_refused_before_anything_exists(users, sandbox_host):
    runbook = runbook_with_steps("backup", [{"task": "backup_database"}])
    with pytest.raises(DomainError) as exc:
        services.execution_launch(
            actor=users["operator"], runbook=runbook, host=sandbox_host, overrides={"database": "ersen; rm -rf /"}
        )
    assert "“database”" in str(exc.value) and "'ersen; rm -rf /' is refused" in str(exc.value)
    assert not RunbookExecution.objects.exists()


def test_a_tampered_snapshot_is_refused_before_connecting(users, sandbox_host, sandbox):
    runbook = runbook_with_steps("backup", [{"task": "backup_database"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    plan = execution.plan
    plan[0]["params"]["database"] = "ersen; rm -rf /"
    RunbookExecution.objects.filter(pk=execution.pk).update(plan=plan)
    runner.run_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith("Refused before connecting: Parameter “database”")
    assert not execution.steps.exists() and sandbox.shim_calls() == []


def test_a_closed_port_fails_with_a_readable_error(users, sandbox_host):
    from runbooks.sandbox import free_port

    sandbox_host.port = free_port()
    sandbox_host.save()
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.FAILED
    assert "Could not connect to sandbox" in execution.error and "connection refused" in execution.error
    connect = execution.steps.get()
    assert connect.kind == StepKind.CONNECT and connect.status == StepStatus.FAILED
    assert "runbooks.host.connect_failed" in actions(execution)


def test_a_wrong_client_key_fails_with_a_readable_error(users, sandbox_host, settings, tmp_path):
    from runbooks.sandbox import Sandbox

    settings.OPS_SSH_KEY_FILE = str(Sandbox(tmp_path / "other").prepare().client_key)
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith("Step 1 of 1 (Back up the database): Login to sandbox")
    assert "is not authorized" in execution.error


def test_a_host_key_mismatch_fails_naming_both_fingerprints(users, sandbox_host, tmp_path):
    from runbooks import remote
    from runbooks.sandbox import Sandbox

    other = Sandbox(tmp_path / "other").prepare().host_key()
    sandbox_host.host_key_type, sandbox_host.host_key = other.key_type, other.key_base64
    sandbox_host.host_key_fingerprint = remote.fingerprint_of(other.key_type, other.key_base64)
    sandbox_host.save()
    execution = launch_and_run(users, sandbox_host, [{"task": "backup_database"}])
    assert execution.status == ExecutionStatus.FAILED
    real = remote.fetch_host_key("127.0.0.1", sandbox_host.port)
    assert "Host key mismatch" in execution.error
    assert real.fingerprint in execution.error and sandbox_host.host_key_fingerprint in execution.error


def test_a_redelivered_task_for_a_finished_execution_runs_nothing(users, sandbox_host, sandbox):
    execution = launch_and_run(users, sandbox_host, [{"task": "unlock_encrypted_volume"}])
    assert execution.status == ExecutionStatus.SUCCEEDED
    calls = len(sandbox.shim_calls())
    steps = execution.steps.count()
    assert runner.run_execution(execution.pk, task_id="redelivered") == "not_queued"
    assert len(sandbox.shim_calls()) == calls and execution.steps.count() == steps
    event = AuditEvent.objects.filter(action="runbooks.execution.delivery_ignored").get()
    assert event.data["status"] == "succeeded" and event.data["task_id"] == "redelivered"


def test_the_claim_is_a_conditional_update_won_once(users, sandbox_host):
    runbook = runbook_with_steps("smoke", [{"task": "smoke_test"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    first = services.execution_claim(execution_id=execution.pk, task_id="a", worker="w1")
    second = services.execution_claim(execution_id=execution.pk, task_id="a", worker="w2")
    assert first.token and first.reason == "claimed"
    assert second.token is None and second.reason == "not_queued"
    assert AuditEvent.objects.filter(action="runbooks.execution.started").count() == 1


def test_a_second_launch_on_a_busy_host_waits_then_runs(users, sandbox_host):
    runbook = runbook_with_steps("smoke", [{"task": "unlock_encrypted_volume"}])
    first = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    second = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    claim = services.execution_claim(execution_id=first.pk, worker="w1")
    # The second's task arrives while the first runs: it stays queued, waiting, and runs nothing.
    assert runner.run_execution(second.pk) == "host_busy"
    second.refresh_from_db()
    assert second.status == ExecutionStatus.QUEUED and not second.steps.exists()
    from runbooks import selectors

    assert selectors.execution_waiting_message(second) == f"waiting for execution #{first.pk} on this host"
    # A third launch must not overtake the second once the host is free.
    services.execution_finish(execution_id=first.pk, token=claim.token, status=ExecutionStatus.SUCCEEDED)
    third = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    assert runner.run_execution(third.pk) == "behind"
    assert runner.run_execution(second.pk) == ExecutionStatus.SUCCEEDED
    assert runner.run_execution(third.pk) == ExecutionStatus.SUCCEEDED


def test_cancel_of_a_queued_execution_ends_it_at_once(users, sandbox_host):
    runbook = runbook_with_steps("smoke", [{"task": "smoke_test"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    services.execution_cancel(actor=users["operator"], execution=execution, reason="wrong host")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED and execution.cancel_requested_by == users["operator"]
    assert "Cancelled by operator before it started. Reason: wrong host" == execution.error
    assert runner.run_execution(execution.pk) == "not_queued"
    assert "runbooks.execution.cancelled" in actions(execution)


def test_cancel_of_a_running_execution_stops_the_remote_command(users, sandbox_host, sandbox):
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f"echo $$ > {pidfile}; exec sleep 600")
    runbook = runbook_with_steps("restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    thread = threading.Thread(target=runner.run_execution, args=(execution.pk,))
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), "the remote command started"
        pid = int(pidfile.read_text())
        services.execution_cancel(actor=users["operator"], execution=execution, reason="changed my mind")
    finally:
        thread.join(timeout=30)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert "Cancelled by operator during “Restart traefik”; the command was stopped on the host." in execution.error
    assert execution.cancel_requested_by == users["operator"] and execution.cancel_requested_at
    assert _pid_gone(pid)
    kill = execution.steps.get(label__startswith="Stop the cancelled command")
    assert "pkill -TERM -f" in kill.command and kill.status == StepStatus.SUCCEEDED
    events = actions(execution)
    assert "runbooks.execution.cancel_requested" in events and events[-1] == "runbooks.execution.cancelled"


def test_the_reaper_marks_a_silent_execution_lost_with_an_explanation(users, sandbox_host, settings):
    settings.OPS_RUNBOOK_LOST_AFTER = 30
    runbook = runbook_with_steps("smoke", [{"task": "smoke_test"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    claim = services.execution_claim(execution_id=execution.pk, worker="box:4242")
    step = services.execution_step_begin(
        execution_id=execution.pk,
        token=claim.token,
        plan_index=0,
        task="smoke_test",
        kind=StepKind.COMMAND,
        label="Something long",
        command="sleep 600",
        timeout=600,
    )
    now = timezone.now()
    assert services.executions_reap_lost(now=now + timedelta(seconds=29)) == []
    assert services.executions_reap_lost(now=now + timedelta(seconds=31)) == [execution.pk]
    execution.refresh_from_db()
    step.refresh_from_db()
    assert execution.status == ExecutionStatus.LOST and step.status == StepStatus.LOST
    assert "the worker box:4242 stopped sending heartbeats" in execution.error
    assert "step 1 (Something long)" in execution.error and "timeout 600" in execution.error
    assert "runbooks.execution.lost" in actions(execution)
    # The worker, if it was only slow, cannot overwrite the verdict.
    assert (
        services.execution_finish(execution_id=execution.pk, token=claim.token, status=ExecutionStatus.SUCCEEDED)
        is False
    )
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.LOST


def test_a_retry_is_a_new_execution_linked_to_the_failed_one(users, sandbox_host):
    from runbooks.sandbox import free_port

    runbook = runbook_with_steps(
        "smoke", [{"task": "smoke_test", "params": {"checks": f"http://127.0.0.1:{free_port()}/ 200"}}]
    )
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    runner.run_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED and "could not connect" in execution.error
    retry = services.execution_retry(actor=users["operator"], execution=execution)
    assert retry.retry_of == execution and retry.status == ExecutionStatus.QUEUED and retry.plan == execution.plan
    with pytest.raises(DomainError, match="only failed, cancelled, timed-out or lost"):
        services.execution_retry(actor=users["operator"], execution=retry)


def test_backup_with_restore_check_counts_the_restored_tables(users, sandbox_host, sandbox, transactional_postgres):
    scratch = f"ersen_restore_check_{os.getpid()}"
    execution = launch_and_run(
        users,
        sandbox_host,
        [{"task": "backup_database", "params": {"verify_restore": "yes", "scratch_database": scratch}}],
    )
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    check = execution.result["restore_check"]
    assert check["database"] == scratch and check["tables"] > 20  # the whole Django schema
    labels = list(execution.steps.values_list("label", flat=True))
    assert f"Restore check: {check['tables']} tables restored into {scratch}" in labels
    assert labels[-2] == f"Drop scratch database {scratch}", "the scratch database is dropped before the verdict"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [scratch])
        assert cursor.fetchone()[0] == 0
