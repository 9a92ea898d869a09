"""Audit events and deliveries through the API: filters, and an export that follows the cursor to the end."""

from __future__ import annotations

import pytest

from api.models import ApiToken
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.services import record
from ersen_ops.notifications.models import NotificationDelivery
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db(transaction=True)


def _export(api, path, params):
    rows, response = [], api.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["results"]
        if not page["next"]:
            return rows
        response = api.session.get(page["next"], headers=api._headers(None), timeout=30)


def test_audit_export_walks_every_page_newest_first(api_as, role_users):
    for n in range(7):
        record(actor="system:test", action="test.exported", data={"n": n})
    api = api_as(role_users["viewer"])
    rows = _export(api, "audit-events", {"action": "test.exported", "page_size": 3})
    assert [r["data"]["n"] for r in rows] == list(reversed(range(7)))
    assert {r["actor_name"] for r in rows} == {"system:test"}
    prefix = _export(api, "audit-events", {"action_prefix": "test.", "page_size": 500})
    assert len(prefix) == 7
    assert_problem(api.get("audit-events", params={"since": "yesterday"}), 400, "invalid")
    assert_problem(api.get("audit-events", params={"target_type": "nope.nothing"}), 400, "invalid")


def test_audit_filter_by_token_shows_what_a_token_did(api_as, role_users):
    from ersen_ops.status.models import Component

    component = Component.objects.create(name="API")
    operator = api_as(role_users["operator"], "read", "status")
    assert operator.post(f"components/{component.public_id}/status", {"status": "major_outage"}).status_code == 200
    token = ApiToken.objects.get(user=role_users["operator"])
    rows = _export(api_as(role_users["viewer"]), "audit-events", {"api_token": token.prefix})
    assert [r["action"] for r in rows] == ["status.component.updated"]
    assert rows[0]["actor_name"] == "operator" and rows[0]["data"]["api_token"] == token.label


def test_audit_needs_the_audit_permission(api_as, role_users):
    from tests.factories import UserFactory

    nobody = UserFactory(username="nobody")
    assert_problem(api_as(nobody).get("audit-events"), 403, "permission")
    assert AuditEvent.objects.exists()


def test_deliveries_filter_and_hide_subscriber_addresses_without_the_role(api_as, role_users):
    NotificationDelivery.objects.create(
        event="incident.opened", channel="slack", subject="P2", body="b", target_name="#alerts"
    )
    NotificationDelivery.objects.create(
        event="incident.opened", channel="subscriber_email", subject="P2", body="b", target_name="someone@example.com"
    )
    NotificationDelivery.objects.create(
        event="maintenance.scheduled", channel="email", subject="M", body="b", status="failed"
    )
    viewer = api_as(role_users["viewer"])
    rows = _export(viewer, "deliveries", {"event": "incident.opened"})
    assert [r["channel"] for r in rows] == ["slack"]
    assert "someone@example.com" not in viewer.get("deliveries").text
    operator = api_as(role_users["operator"])  # Operators may see subscribers (roles.py)
    assert {r["channel"] for r in _export(operator, "deliveries", {"event": "incident.opened"})} == {
        "slack",
        "subscriber_email",
    }
    failed = _export(viewer, "deliveries", {"status": "failed"})
    assert [r["event"] for r in failed] == ["maintenance.scheduled"]
    one = viewer.get(f"deliveries/{failed[0]['id']}")
    assert one.status_code == 200 and one.json()["subject"] == "M"
