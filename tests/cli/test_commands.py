"""`ersen-ops window|incident|runbook` against the live server with real tokens: each refusal is the rule's sentence
with exit 1; `runbook run --wait` streams the output of a real run over SSH and exits with the run's code."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from incidents.choices import IncidentStatus
from incidents.models import Incident
from maintenance import services as maintenance
from maintenance.choices import ChecklistPhase, MaintenanceType, WindowStatus
from maintenance.models import EtaChange, MaintenanceWindow
from runbooks import runner
from runbooks.models import RunbookExecution
from tests.factories import ComponentFactory
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import MaintenanceWindowFactory
from tests.runbooks.factories import runbook_with_steps


def scheduled_emergency(users, component):
    now = timezone.now()
    window = MaintenanceWindowFactory(
        type=MaintenanceType.EMERGENCY,
        planned_start=now + timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        owner=users["operator"],
        components=[component],
    )
    maintenance.window_schedule(actor=users["operator"], window=window, now=now)
    return window


def test_window_start_eta_complete(ersen_ops, cli_users):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    window = scheduled_emergency(cli_users, ComponentFactory(name="API"))
    operator = cli_users["operator"]

    refused = ersen_ops(operator, "window", "start", window.public_id)
    assert refused.code == 1 and "Cannot start" in refused.stderr and "“before” item(s) not done" in refused.stderr

    started = ersen_ops(operator, "window", "start", window.public_id, "--justification", "Payments down")
    assert started.code == 0, started
    assert started.stdout.startswith(f"{window.public_id} “{window.title}” is in_progress, ETA ")

    eta = ersen_ops(operator, "window", "eta", window.public_id, "--in", "1h30m", "--reason", "Migration is slow")
    assert eta.code == 0, eta
    change = EtaChange.objects.filter(window=window, reason="Migration is slow").get()
    assert change.changed_by == operator
    assert abs((change.new_eta - timezone.now()) - timedelta(minutes=90)) < timedelta(minutes=2)

    not_yet = ersen_ops(operator, "window", "complete", window.public_id)
    assert not_yet.code == 1 and "“during” item(s) not done" in not_yet.stderr
    approve_phase(
        MaintenanceWindow.objects.get(pk=window.pk),
        ChecklistPhase.DURING,
        [cli_users["approver"], cli_users["admin"]],
        now=timezone.now(),
    )
    done = ersen_ops(operator, "window", "complete", window.public_id)
    assert done.code == 0, done
    window.refresh_from_db()
    assert window.status == WindowStatus.COMPLETED

    viewer = ersen_ops(cli_users["viewer"], "window", "start", window.public_id)
    assert viewer.code == 1 and "HTTP 403" in viewer.stderr
    bad = ersen_ops(operator, "window", "eta", window.public_id, "--eta", "tomorrow", "--reason", "x")
    assert bad.code == 2 and "neither a time" in bad.stderr


def test_incident_open_update_resolve(ersen_ops, cli_users):
    ComponentFactory(name="API")
    commander = cli_users["commander"]
    opened = ersen_ops(
        commander, "incident", "open", "--title", "API errors", "--level", "P3", "--component", "api:partial_outage"
    )
    assert opened.code == 0, opened
    incident = Incident.objects.get()
    assert opened.stdout.startswith(f"{incident.public_id} P3 “API errors” is investigating")
    assert {ic.component.name: ic.impact for ic in incident.component_impacts.all()} == {"API": "partial_outage"}

    updated = ersen_ops(
        commander, "incident", "update", incident.public_id, "--status", "identified", "--body", "Bad deploy"
    )
    assert updated.code == 0, updated
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.IDENTIFIED

    empty = ersen_ops(commander, "incident", "resolve", incident.public_id, "--body", " ")
    assert empty.code == 1
    resolved = ersen_ops(commander, "incident", "resolve", incident.public_id, "--body", "Rolled back.")
    assert resolved.code == 0, resolved
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_by == commander
    assert ersen_ops(commander, "incident", "resolve", incident.public_id, "--body", "again").code == 1


def wait_for_execution(timeout=30) -> RunbookExecution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = RunbookExecution.objects.first()
        if execution is not None:
            return execution
        time.sleep(0.1)
    pytest.fail("the CLI launched no execution")


@pytest.mark.slow
@pytest.mark.parametrize("exit_code", [0, 3])
def test_runbook_run_wait_streams_the_output_and_exits_with_the_runs_code(
    ersen_ops, cli_users, sandbox_host, sandbox, exit_code
):
    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    if exit_code:
        sandbox.set_behaviour(
            "docker", f'if [ "$1" = compose ]; then echo "no such service: traefik" >&2; exit {exit_code}; fi'
        )
    runbook_with_steps("restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    process = ersen_ops.start(
        cli_users["operator"],
        "runbook",
        "run",
        "restart",
        "--host",
        sandbox_host.name,
        "--wait",
        "--poll",
        "0.2",
        env={"ERSEN_OPS_PROGRESS_SECONDS": "0.5"},
    )
    try:
        execution = wait_for_execution()
        time.sleep(1.5)  # the CLI waits on a queued run: its progress lines
        runner.run_execution(execution.pk)  # what the worker does, over SSH to the sandbox host
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_code, stderr
    assert stdout.startswith("==> step 1") and "Restart traefik" in stdout
    assert f"Launched restart on {sandbox_host.name}: execution {execution.pk} (queued)." in stderr
    assert "… queued for " in stderr  # the progress display while nothing arrives
    final = "succeeded (exit 0)" if exit_code == 0 else f"failed (exit {exit_code})"
    assert f"Execution {execution.pk} {final}." in stderr
    if exit_code:
        assert "no such service: traefik" in stdout
