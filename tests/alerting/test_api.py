"""The two webhooks through real HTTP against the live server: integration tokens, problem details, recorded Grafana
payloads from a firing alert to its resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from alerting.choices import Outcome
from alerting.models import ReceivedAlert
from ersen_ops.audit.models import AuditEvent
from incidents.choices import IncidentStatus
from incidents.models import Incident
from tests.alerting.conftest import am_alert, am_payload

RECORDED = Path(__file__).with_name("recorded")


def post(live_server, source, token, body, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, (dict, list)):
        kwargs["json"] = body
    else:
        kwargs["data"] = body
        headers["Content-Type"] = "application/json"
    return requests.post(f"{live_server.url}/api/ops/v1/alerts/{source}", headers=headers, timeout=30, **kwargs)


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


@pytest.fixture
def server(transactional_db, live_server):
    return live_server


def test_alertmanager_webhook_opens_an_incident(server, integration, rules):
    response = post(server, "alertmanager", integration.token, am_payload(am_alert("HighErrorRate", "fp1")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] == 1 and body["outcomes"] == {"opened": 1}
    incident = Incident.objects.get()
    assert body["incidents"] == [incident.public_id]
    integration.refresh_from_db()
    assert integration.last_used_at is not None and integration.last_used_from == "127.0.0.1"
    event = AuditEvent.objects.get(action="alerting.notification_received")
    assert event.remote_addr == "127.0.0.1"


def test_grafana_recorded_payloads_open_then_monitor_then_resolve(server, grafana, rules):
    from alerting import services

    firing = json.loads((RECORDED / "grafana_firing.json").read_text())
    response = post(server, "grafana", grafana.token, firing)
    assert response.status_code == 200, response.text
    assert response.json()["outcomes"] == {"opened": 1, "joined": 1}
    incident = Incident.objects.get()
    assert incident.level == "P1" and incident.title == "API 5xx rate: API answers 5xx for 7.3% of requests"
    resolved = json.loads((RECORDED / "grafana_resolved.json").read_text())
    response = post(server, "grafana", grafana.token, resolved)
    assert response.json()["outcomes"] == {"resolved": 2}
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.MONITORING
    from django.utils import timezone

    assert services.alert_groups_resolve_quiet(now=timezone.now() + timezone.timedelta(minutes=11)) == 1
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert set(ReceivedAlert.objects.values_list("outcome", flat=True)) == {
        Outcome.OPENED,
        Outcome.JOINED,
        Outcome.RESOLVED,
    }


def test_no_token_or_a_wrong_token_is_401(server, integration):
    body = am_payload(am_alert("X", "f"))
    problem(post(server, "alertmanager", None, body), 401, "not_authenticated")
    problem(post(server, "alertmanager", integration.token[:-2] + "zz", body), 401, "authentication_failed")
    problem(post(server, "alertmanager", "ersen_someone_elses", body), 401, "authentication_failed")
    assert not ReceivedAlert.objects.exists()


def test_a_persons_api_token_is_no_integration_token(server, users):
    from api import services as api_services

    _, raw = api_services.token_create(actor=users["admin"], name="ci", scopes=["read", "incidents"])
    problem(post(server, "alertmanager", raw, am_payload(am_alert("X", "f"))), 401, "authentication_failed")


def test_the_other_sources_endpoint_and_a_revoked_integration_are_403(server, integration, grafana, users):
    from alerting import services

    problem(post(server, "grafana", integration.token, am_payload(am_alert("X", "f"))), 403, "permission")
    services.integration_set_active(actor=users["admin"], integration=integration, active=False)
    body = problem(post(server, "alertmanager", integration.token, am_payload(am_alert("X", "f"))), 403, "permission")
    assert "revoked" in body["detail"]


def test_bad_bodies_are_4xx_problems(server, integration):
    problem(post(server, "alertmanager", integration.token, "{not json"), 400, "parse_error")
    body = problem(
        post(server, "alertmanager", integration.token, {**am_payload(am_alert("X", "f")), "version": "2"}),
        422,
        "payload",
    )
    assert "version 2 is not supported" in body["detail"]
    problem(post(server, "alertmanager", integration.token, [1, 2]), 422, "payload")


def test_concurrent_notifications_of_one_outage_open_one_incident(server, integration, rules):
    """Four senders' notifications of the same group at once (real threads, real HTTP): the integration's row lock
    serialises them, so one opens the incident and the others join it."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [am_payload(am_alert("HighErrorRate", f"fp{n}")) for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda body: post(server, "alertmanager", integration.token, body), bodies))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert Incident.objects.count() == 1
    assert sorted(ReceivedAlert.objects.values_list("outcome", flat=True)) == ["joined"] * 3 + ["opened"]


def test_hostile_strings_are_a_4xx_over_http_and_stored_without_nul_by_the_service(server, integration, rules):
    from alerting import services

    alert = am_alert("High\u0000ErrorRate", "fp\u00001", **{"zone\u0000": "eu\u0000-1", "long": "x" * 20_000})
    alert["generatorURL"] = "javascript:alert(1)\u0000"
    body = {**am_payload(alert, group_key='{}:{alertname="\u0000"}'), "receiver": "r\u0000"}
    problem(post(server, "alertmanager", integration.token, body), 400, "invalid")  # the API refuses NUL itself
    services.alerts_receive(integration=integration, source="alertmanager", payload=body)
    row = ReceivedAlert.objects.get()
    assert row.fingerprint == "fp1" and row.alertname == "HighErrorRate" and "\u0000" not in row.group_key
    assert row.labels["zone"] == "eu-1" and len(row.labels["long"]) == 10_000
    assert Incident.objects.get().title.startswith("HighErrorRate")
    bad = {**am_payload(am_alert("X", "f")), "alerts": [{"status": "firing", "labels": 7}]}
    problem(post(server, "alertmanager", integration.token, bad), 422, "payload")
