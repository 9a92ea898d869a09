"""End to end with a real `manage.py qcluster` process and real sshd: launch → worker → record.

Faults that only a separate worker can show: kill -9 mid-step (reaped as lost), two launches on one
host (the second waits, then runs), cancel from the admin while the worker runs the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks import services
from runbooks.choices import FINAL_STATUSES, ExecutionStatus, StepStatus
from runbooks.models import RunbookExecution
from tests.processes import BASE_DIR, worker_env
from tests.runbooks.factories import runbook_with_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(predicate, timeout=60, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def final(execution, timeout=60):
    def done():
        execution.refresh_from_db()
        return execution.status in FINAL_STATUSES

    wait_for(done, timeout, what=f"execution #{execution.pk} to finish")
    return execution


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except OSError:
        return True


def run_page(client, runbook, host, window=None):
    url = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run"])
    query = {"host": host.pk, **({"window": window.pk} if window else {})}
    page = client.get(url, query)
    assert page.status_code == 200
    return url, page.context["form"].initial


def test_launch_from_the_admin_runs_in_a_real_worker_and_the_backup_is_evidence(
    worker, client, users, sandbox_host, sandbox
):
    from maintenance.choices import WindowStatus
    from maintenance.models import ChecklistItem
    from tests.maintenance.factories import MaintenanceWindowFactory

    site_settings_set_phase(actor="system:test", phase="postlaunch")
    database = sandbox_host.components.get()
    window = MaintenanceWindowFactory(
        status=WindowStatus.SCHEDULED, components=[database], planned_start=timezone.now() + timedelta(days=2)
    )
    item = ChecklistItem.objects.create(
        window=window, phase="before", order=1, key="backup_verified", text="Backup completed and verified"
    )
    runbook = runbook_with_steps("database-backup", [{"task": "backup_database"}], name="Database backup")
    client.force_login(users["operator"])
    url, initial = run_page(client, runbook, sandbox_host, window)
    response = client.post(url, {**initial, "justification": ""})
    assert response.status_code == 302, response.content.decode()[-2000:]
    execution = RunbookExecution.objects.get()
    assert not execution.outside_window, "a read-only backup prepares its scheduled window"
    assert execution.window == window and execution.requested_via == "window"

    final(execution)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.result["verified"] is True and execution.result["sha256"]
    assert execution.task_id and execution.worker and not execution.worker.endswith(f":{os.getpid()}")
    with open(execution.result["path"], "rb") as dump:
        assert b"-- PostgreSQL database dump" in dump.read(200)
    events = list(
        AuditEvent.objects.filter(target_id=str(execution.pk), target_type__model="runbookexecution")
        .order_by("id")
        .values_list("action", "actor_name")
    )
    assert events[0] == ("runbooks.execution.requested", "operator")
    assert events[1] == ("runbooks.execution.started", "system:runbook-worker")
    assert ("runbooks.execution.finished", "system:runbook-worker") in events
    assert sum(1 for action, _ in events if action == "runbooks.command.exited") >= 6
    # The verified backup is the evidence of the window's "Backup completed and verified" item.
    item.refresh_from_db()
    approval = item.approvals.get()
    assert approval.user is None and approval.evidence_id == str(execution.pk) or approval.evidence_id == execution.pk
    assert execution.result["sha256"] in approval.evidence_summary
    # The execution page shows the record, the JSON endpoint the steps.
    data = client.get(reverse("admin:runbooks_runbookexecution_output", args=[execution.pk])).json()
    assert data["final"] and all(s["status"] == "succeeded" for s in data["steps"])


def test_kill_9_of_the_worker_mid_step_is_reaped_as_lost(worker, users, sandbox_host, sandbox, settings):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f"echo $$ > {pidfile}; exec sleep 120")
    runbook = runbook_with_steps(
        "restart", [{"task": "restart_service", "params": {"site_url": ""}, "timeout_seconds": 60}]
    )
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    wait_for(pidfile.exists, 30, what="the remote command to start")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    worker_pid = int(execution.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(worker_pid), 10, what="the worker to die")
    beat = execution.heartbeat_at
    time.sleep(settings.OPS_RUNBOOK_LOST_AFTER / 6 + 1.5)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.heartbeat_at == beat, (
        "no heartbeat from a dead worker"
    )
    # The reaper (a 1-minute schedule) runs; drive it with a clock past the heartbeat limit.
    assert services.executions_reap_lost(now=timezone.now()) == []
    reaped = services.executions_reap_lost(now=beat + timedelta(seconds=settings.OPS_RUNBOOK_LOST_AFTER + 1))
    assert reaped == [execution.pk]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.LOST
    assert f"the worker {execution.worker} stopped sending heartbeats" in execution.error
    assert "step 2 (Restart traefik)" in execution.error and "timeout 60" in execution.error
    assert execution.steps.get(status=StepStatus.LOST).label == "Restart traefik"
    assert AuditEvent.objects.filter(action="runbooks.execution.lost", target_id=str(execution.pk)).exists()
    os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the host's `timeout 60` would end it; don't wait


def test_two_launches_on_one_host_run_one_after_the_other(worker, users, sandbox_host, sandbox):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    sandbox.set_behaviour("docker", 'if [ "$1" = compose ]; then sleep 2; fi')
    runbook = runbook_with_steps("restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    first = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    second = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)

    def first_running_second_waiting():
        first.refresh_from_db()
        second.refresh_from_db()
        return first.status == ExecutionStatus.RUNNING and second.status == ExecutionStatus.QUEUED

    wait_for(first_running_second_waiting, 30, interval=0.05, what="the first to run while the second waits")
    from runbooks import selectors

    assert selectors.execution_waiting_message(second) == f"waiting for execution #{first.pk} on this host"
    final(first)
    final(second)
    assert first.status == second.status == ExecutionStatus.SUCCEEDED, (first.error, second.error)
    assert second.started_at >= first.finished_at
    assert len([c for c in sandbox.shim_calls() if c[:2] == ["docker", "compose"]]) == 2


def test_cancel_from_the_admin_stops_the_command_the_worker_runs(worker, client, users, sandbox_host, sandbox):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    pidfile = sandbox.root / "pids" / "docker"
    sandbox.set_behaviour("docker", f"echo $$ > {pidfile}; exec sleep 120")
    runbook = runbook_with_steps("restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=sandbox_host)
    wait_for(pidfile.exists, 30, what="the remote command to start")
    remote_pid = int(pidfile.read_text())
    client.force_login(users["operator"])
    url = reverse("admin:runbooks_runbookexecution_workflow", args=[execution.pk, "cancel"])
    assert client.post(url, {"reason": "wrong window"}).status_code == 302
    final(execution, timeout=30)
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.cancel_requested_by == users["operator"] and execution.cancel_reason == "wrong window"
    wait_for(lambda: pid_gone(remote_pid), 10, what="the remote command to be gone")


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", "runbook", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_run_with_wait_exits_0_only_on_success(worker, users, sandbox_host, sandbox):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    runbook_with_steps("unlock", [{"task": "unlock_encrypted_volume"}])
    env = worker_env(key_file=str(sandbox.client_key))
    ok = _cli("run", "unlock", "--host", "sandbox", "--wait", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (
        "succeeded." in ok.stdout
        and "Open /var/lib/ersen_encrypted.img as /dev/mapper/ersen_encrypted exit 0" in ok.stdout
    )
    sandbox.set_behaviour("docker", 'echo "compose file is broken" >&2; exit 14')
    failed = _cli("run", "unlock", "--host", "sandbox", "--wait", env=env)
    assert failed.returncode == 1 and "failed" in failed.stdout and "compose file is broken" in failed.stdout
    refused = _cli("run", "unlock", "--host", "sandbox", "--param", "mapper_name=x;reboot", env=env)
    assert refused.returncode == 2 and "'x;reboot' is refused" in refused.stderr
    execution = RunbookExecution.objects.order_by("-pk").first()
    assert execution.requested_by_name.startswith("system:cli:") and execution.requested_via == "cli"
