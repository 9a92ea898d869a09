"""Incidents through the API: open, update, acknowledge, level, resolve — the admin's services and permissions."""

from __future__ import annotations

import pytest

from api.models import ApiToken
from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.models import NotificationDelivery
from incidents.models import Incident
from tests.api.conftest import assert_problem
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_incident_lifecycle_through_the_api(api_as, role_users):
    ComponentFactory(name="API")
    commander = role_users["commander"]
    api = api_as(commander, "read", "incidents")
    opened = api.post(
        "incidents",
        {
            "title": "API errors",
            "level": "P2",
            "components": [{"component": "api", "impact": "partial_outage"}],
            "message": "We are looking into elevated errors.",
        },
    )
    assert opened.status_code == 201, opened.text
    body = opened.json()
    incident_id = body["id"]
    assert body["status"] == "investigating" and body["opened_by"] == "commander"
    assert body["components"][0]["impact"] == "partial_outage"
    assert opened.headers["Location"].endswith(f"/api/ops/v1/incidents/{incident_id}")
    # the same notifications as the admin's Open (the channels of a P2)
    assert NotificationDelivery.objects.filter(event="incident.opened").exists()

    update = api.post(f"incidents/{incident_id}/updates", {"status": "identified", "body": "A bad deploy."})
    assert update.status_code == 201 and update.json()["status"] == "identified"
    ack = api.post(f"incidents/{incident_id}/acknowledge")
    assert ack.status_code == 200 and ack.json()["changed"] is True
    again = api.post(f"incidents/{incident_id}/acknowledge")
    assert again.json()["changed"] is False  # idempotent in the service: nothing done twice
    level = api.post(f"incidents/{incident_id}/level", {"level": "P1", "reason": "Checkout is down too."})
    assert level.status_code == 200 and level.json()["level"] == "P1"
    resolved = api.post(f"incidents/{incident_id}/resolve", {"body": "Rolled back; all good."})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    # resolving twice: the service's rule, as a 409 problem that says who resolved it
    body = assert_problem(api.post(f"incidents/{incident_id}/resolve", {"body": "again"}), 409, "invalid_transition")
    assert "commander" in body["detail"]

    token = ApiToken.objects.get(user=commander)
    actions = list(
        AuditEvent.objects.filter(
            target_type__model="incident", target_id=str(Incident.objects.get(public_id=incident_id).pk)
        )
        .order_by("id")
        .values_list("action", "actor_name", "data__api_token")
    )
    assert [a for a, _, _ in actions][:1] == ["incident.opened"]
    assert {name for _, name, _ in actions} == {"commander"}
    assert {t for _, _, t in actions} == {token.label}


@pytest.mark.parametrize(
    ("role", "path", "payload", "allowed"),
    [
        ("viewer", "incidents", {"title": "x", "level": "P3"}, False),
        ("approver", "incidents", {"title": "x", "level": "P3"}, False),
        ("operator", "incidents", {"title": "x", "level": "P3"}, True),
        ("commander", "incidents", {"title": "x", "level": "P3"}, True),
        ("operator", "{id}/acknowledge", {}, False),  # operators work incidents but do not acknowledge (roles.py)
        ("commander", "{id}/acknowledge", {}, True),
        ("operator", "{id}/resolve", {"body": "done"}, False),
        ("commander", "{id}/resolve", {"body": "done"}, True),
        ("operator", "{id}/updates", {"status": "identified", "body": "b"}, True),
        ("viewer", "{id}/updates", {"status": "identified", "body": "b"}, False),
    ],
)
def test_incident_permissions_per_role(api_as, role_users, role, path, payload, allowed):
    from tests.incidents.factories import open_incident

    incident = open_incident(actor=role_users["commander"])
    api = api_as(role_users[role], "read", "incidents")
    response = api.post(path.replace("{id}", f"incidents/{incident.public_id}"), payload)
    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        body = assert_problem(response, 403)
        assert "permission" in body["detail"] or "role" in body["detail"]


def test_same_idempotency_key_never_opens_two_incidents(api_as, role_users):
    api = api_as(role_users["commander"], "read", "incidents")
    payload = {"title": "Deploy broke login", "level": "P2"}
    first = api.post("incidents", payload, headers={"Idempotency-Key": "gh-run-42"})
    retry = api.post("incidents", payload, headers={"Idempotency-Key": "gh-run-42"})
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert Incident.objects.count() == 1
    assert AuditEvent.objects.filter(action="incident.opened").count() == 1
    other = api.post("incidents", {**payload, "level": "P1"}, headers={"Idempotency-Key": "gh-run-42"})
    assert_problem(other, 422, "idempotency_key_reused")
    assert Incident.objects.count() == 1
    # another key is another request
    assert api.post("incidents", payload, headers={"Idempotency-Key": "gh-run-43"}).status_code == 201
    assert Incident.objects.count() == 2


def test_concurrent_retries_with_one_key_open_one_incident(api_as, role_users):
    from concurrent.futures import ThreadPoolExecutor

    api = api_as(role_users["commander"], "read", "incidents")
    payload = {"title": "Race", "level": "P3"}

    def call(_):
        from tests.api.conftest import ApiClient

        return ApiClient(api.base.removesuffix("/api/ops/v1/"), api.token).post(
            "incidents", payload, headers={"Idempotency-Key": "same"}
        )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(call, range(4)))
    assert Incident.objects.count() == 1
    ok = [r for r in responses if r.status_code == 201]
    assert ok and {r.json()["id"] for r in ok} == {Incident.objects.get().public_id}
    for r in responses:
        assert r.status_code in (201, 409), r.text


def test_list_filters_and_cursor_pagination(api_as, role_users):
    from tests.incidents.factories import open_incident

    for n in range(5):
        open_incident(actor=role_users["commander"], title=f"Incident {n}", level="P3" if n % 2 else "P4")
    api = api_as(role_users["viewer"])
    seen, url, pages = [], "incidents?page_size=2", 0
    response = api.get(url)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [i["title"] for i in page["results"]]
        pages += 1
        if not page["next"]:
            break
        response = api.session.get(page["next"], headers=api._headers(None), timeout=30)
    assert pages == 3 and seen == [f"Incident {n}" for n in reversed(range(5))]
    p3 = api.get("incidents", params={"level": "P3"}).json()["results"]
    assert {i["title"] for i in p3} == {"Incident 1", "Incident 3"}
    assert_problem(api.get("incidents", params={"level": "P9"}), 400, "invalid")
    assert_problem(api.get("incidents", params={"cursor": "garbage"}), 404)
