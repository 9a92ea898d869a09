"""`ersen-ops gate` against the live server: exit 0 allowed, 1 denied with the reasons, 2 for configuration errors;
the CI job's URL goes into the audit event."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from maintenance import services as maintenance
from maintenance.choices import MaintenanceType
from tests.conftest import missing
from tests.factories import ComponentFactory
from tests.maintenance.factories import MaintenanceWindowFactory


def test_gate_denied_then_allowed_under_an_in_progress_window(ersen_ops, cli_users):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    api = ComponentFactory(name="API")
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "ersen/app", "GITHUB_RUN_ID": "77"}
    denied = ersen_ops(cli_users["operator"], "gate", "--components", "api", env=github)
    assert denied.code == 1, denied
    assert denied.stdout.startswith("DENIED: deploy of API\n")
    assert "  - Post-launch, a deploy needs an in-progress maintenance window" in denied.stdout
    event = AuditEvent.objects.get(action="maintenance.deploy_gate.denied")
    assert event.actor == cli_users["operator"]
    assert event.data["asked_by"] == {"reference": "https://github.com/ersen/app/actions/runs/77"}

    now = timezone.now()
    window = MaintenanceWindowFactory(
        type=MaintenanceType.EMERGENCY,
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        owner=cli_users["operator"],
        components=[api],
    )
    maintenance.window_schedule(actor=cli_users["operator"], window=window, now=now - timedelta(minutes=2))
    maintenance.window_start(actor=cli_users["operator"], window=window, justification="Payments down")
    allowed = ersen_ops(cli_users["operator"], "gate", "--components", "API", "--window", window.public_id)
    assert allowed.code == 0, allowed
    assert allowed.stdout.startswith("ALLOWED: deploy of API\n")
    assert "justified: “Payments down”" in allowed.stdout


def test_gate_json_output(ersen_ops, cli_users):
    import json

    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    ComponentFactory(name="API")
    run = ersen_ops(cli_users["viewer"], "--json", "gate", "--components", "api")
    answer = json.loads(run.stdout)
    assert answer["allowed"] is True and run.code == 0
    assert answer["reasons"][-1].startswith("Still notify via Discord/Slack")


def test_configuration_and_refusals_exit_2_with_a_sentence(ersen_ops, cli_users):
    no_token = ersen_ops(None, "gate", "--components", "api")
    assert no_token.code == 2 and "Set ERSEN_OPS_TOKEN" in no_token.stderr
    wrong = ersen_ops(None, "gate", "--components", "api", env={"ERSEN_OPS_TOKEN": "ersen_nope_nope"})
    assert wrong.code == 2 and "HTTP 401" in wrong.stderr
    no_scope = ersen_ops(cli_users["operator"], "gate", "--components", "api", scopes=("incidents",))
    assert no_scope.code == 1 and "lacks the “read” scope" in no_scope.stderr
    unreachable = ersen_ops(
        cli_users["operator"],
        "--timeout",
        "2",
        "gate",
        "--components",
        "api",
        env={"ERSEN_OPS_URL": "http://127.0.0.1:9"},
    )
    assert unreachable.code == 2 and "Cannot reach http://127.0.0.1:9/api/ops/v1/" in unreachable.stderr


def test_the_console_script_is_installed_with_the_project():
    script = Path(sys.executable).with_name("ersen-ops")
    if not script.exists():
        missing(f"{script} is not installed (make install installs the cli/ package)")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ersen-ops ")
