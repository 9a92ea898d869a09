"""The admin of alert intake: a new integration's token shown once (no-store page, never again), rotation, the
permission, rules audited with their components, the read-only lists."""

from __future__ import annotations

import re

import pytest

from alerting import selectors
from alerting.models import AlertIntegration, AlertRule
from ersen_ops.audit.models import AuditEvent
from tests.alerting.conftest import am_alert, am_payload

pytestmark = pytest.mark.django_db

INTEGRATIONS = "/admin/alerting/alertintegration/"
RULES = "/admin/alerting/alertrule/"


def token_on(page: str) -> list[str]:
    return re.findall(r"eoa_[A-Za-z0-9_\-]+", page)


def test_adding_an_integration_shows_its_token_once(client, users):
    client.force_login(users["admin"])
    response = client.post(
        INTEGRATIONS + "add/",
        {"name": "prometheus", "source": "alertmanager", "default_level": "P2", "quiet_minutes": 10},
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    (token,) = token_on(page)
    assert "shown only now" in page and "/api/ops/v1/alerts/alertmanager" in page
    integration = AlertIntegration.objects.get()
    assert selectors.integration_for_token(token) == integration
    change = client.get(f"{INTEGRATIONS}{integration.pk}/change/").content.decode()
    assert token not in change and integration.token_prefix in change
    created = AuditEvent.objects.get(action="alerting.integration_created")
    assert created.actor == users["admin"] and token not in str(created.data)


def test_rotating_shows_the_new_token_once_and_the_old_one_stops(client, users, integration):
    client.force_login(users["admin"])
    response = client.post(INTEGRATIONS, {"action": "rotate_token", "_selected_action": [integration.pk]})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    (new,) = token_on(response.content.decode())
    assert selectors.integration_for_token(integration.token) is None
    assert selectors.integration_for_token(new) == integration


def test_without_the_permission_no_integration_page(client, users):
    client.force_login(users["operator"])
    assert client.get(INTEGRATIONS + "add/").status_code == 403
    assert client.get(INTEGRATIONS).status_code == 403


def test_a_rule_saved_in_the_admin_is_audited_with_its_components(client, users, components):
    client.force_login(users["admin"])
    response = client.post(
        RULES + "add/",
        {
            "name": "API down",
            "position": 1,
            "matchers": '{"service": "api"}',
            "components": [components["api"].pk],
            "impact": "major_outage",
            "level": "P1",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get()
    event = AuditEvent.objects.get(action="alerting.rule_created")
    assert event.data["after"]["components"] == ["API"] and event.data["after"]["matchers"] == {"service": "api"}
    response = client.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not AlertRule.objects.exists()
    assert AuditEvent.objects.filter(action="alerting.rule_deleted").count() == 1


def test_the_received_alerts_and_groups_lists_show_what_came_in(client, users, integration, rules):
    from alerting import services

    services.alerts_receive(
        integration=integration, source="alertmanager", payload=am_payload(am_alert("HighErrorRate", "fp1"))
    )
    client.force_login(users["admin"])
    page = client.get("/admin/alerting/receivedalert/").content.decode()
    assert "HighErrorRate" in page and "Opened an incident" in page
    assert client.get("/admin/alerting/alertgroup/").status_code == 200
