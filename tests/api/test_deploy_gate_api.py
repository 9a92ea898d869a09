"""GET /api/ops/v1/deploy-gate through real HTTP: the maintenance policy's answer, audited with the token's user and
the token; a denial is data (200), bad input a problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from maintenance import services as maintenance
from maintenance.choices import MaintenanceType
from tests.api.conftest import assert_problem
from tests.factories import ComponentFactory
from tests.maintenance.conftest import ensure_checklist_templates
from tests.maintenance.factories import MaintenanceWindowFactory


@pytest.fixture
def postlaunch(transactional_db):
    ensure_checklist_templates()
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def test_gate_denies_without_a_window_and_allows_under_a_started_one(api_as, role_users, postlaunch):
    database = ComponentFactory(name="Database")
    client = api_as(role_users["operator"], "read")
    response = client.get("deploy-gate", params={"components": "database", "reference": "https://ci/job/7"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is False and body["refused_by"] == ["window"]
    assert "none is in progress on Database" in body["reasons"][0]
    event = AuditEvent.objects.get(action="maintenance.deploy_gate.denied")
    assert event.actor == role_users["operator"]
    assert event.data["api_token"].startswith("ersen_") and event.data["asked_by"] == {"reference": "https://ci/job/7"}

    now = timezone.now()
    window = MaintenanceWindowFactory(
        type=MaintenanceType.EMERGENCY,
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        owner=role_users["operator"],
        components=[database],
    )
    maintenance.window_schedule(actor=role_users["operator"], window=window, now=now - timedelta(minutes=2))
    maintenance.window_start(actor=role_users["operator"], window=window, justification="Payments down")
    body = client.get("deploy-gate", params={"components": "Database", "window": window.public_id}).json()
    assert body["allowed"] is True and body["windows"] == [window.public_id]
    assert any("justified: “Payments down”" in r for r in body["reasons"])


def test_gate_prelaunch_allows_with_the_reminder(api_as, role_users, transactional_db):
    ComponentFactory(name="API")
    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    body = api_as(role_users["viewer"], "read").get("deploy-gate", params={"components": "api"}).json()
    assert body["allowed"] is True
    assert body["reasons"][-1].startswith("Still notify via Discord/Slack if downtime > 5 min")


def test_gate_needs_components_and_the_read_scope(api_as, role_users, transactional_db):
    assert_problem(api_as(role_users["operator"], "read").get("deploy-gate"), 400, "invalid")
    assert_problem(api_as(role_users["operator"], "incidents").get("deploy-gate", params={"components": "api"}), 403)
