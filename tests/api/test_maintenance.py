"""Maintenance windows through the API: the whole protocol (draft → scheduled → in progress → completed), the
checklist and its approvals as the token's user (four-eyes unchanged), and the policy's refusals as problems."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from api.models import ApiToken
from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from maintenance.models import MaintenanceWindow
from tests.api.conftest import assert_problem
from tests.factories import ComponentFactory
from tests.maintenance.conftest import ensure_checklist_templates
from tests.maintenance.factories import JAN_TUE_0200

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def protocol(role_users):
    ensure_checklist_templates()
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    ComponentFactory(name="Database")
    return role_users


def _draft(api, **overrides):
    payload = {
        "title": "Deploy release 2.4",
        "type": "routine",
        "planned_start": JAN_TUE_0200.isoformat(),
        "planned_end": (JAN_TUE_0200 + timedelta(hours=1)).isoformat(),
        "impact": "The dashboard is read-only.",
        "reason": "Release 2.4 with a migration.",
        "rollback_plan": "Redeploy 2.3 and restore the backup.",
        "components": ["Database"],
        "on_call_engineer": "approver",
        **overrides,
    }
    return api.post("maintenance-windows", payload)


def _approve_open_items(window_id, phase, apis, skip_keys=()):
    """Approve every open item of `phase` with the first token whose user the rules accept (as tests/maintenance)."""
    for api in apis:
        for item in api.get(f"maintenance-windows/{window_id}/checklist").json():
            if item["phase"] != phase or item["done"] or item["key"] in skip_keys or not item["can_approve"]:
                continue
            if item["key"] == "on_call_confirmed":
                response = api.post(f"maintenance-windows/{window_id}/on-call/confirm", {"note": "available"})
            else:
                response = api.post(
                    f"maintenance-windows/{window_id}/checklist/{item['id']}/approve",
                    {"note": "done", "evidence_url": "https://ops.example/evidence"},
                )
            assert response.status_code == 200, response.text


def test_window_protocol_end_to_end_as_the_tokens_users(api_as, protocol):
    users = protocol
    with time_machine.travel(JAN_TUE_0200 - timedelta(days=2), tick=True) as clock:
        operator = api_as(users["operator"], "read", "maintenance")
        approver = api_as(users["approver"], "read", "maintenance")
        admin = api_as(users["admin"], "read", "maintenance")

        created = _draft(operator)
        assert created.status_code == 201, created.text
        window_id = created.json()["id"]
        assert created.json()["status"] == "draft" and created.json()["owner"] == "operator"
        edited = operator.session.patch(
            operator.url(f"maintenance-windows/{window_id}"),
            json={"title": "Deploy release 2.4.1"},
            headers=operator._headers(None),
            timeout=30,
        )
        assert edited.status_code == 200 and edited.json()["title"] == "Deploy release 2.4.1"
        actions = created.json()["actions"]
        assert actions["schedule"] == {"allowed": True, "refusals": []}
        assert actions["start"]["allowed"] is False and actions["start"]["refusals"][0]["rule"] == "state"
        scheduled = operator.post(f"maintenance-windows/{window_id}/schedule", {})
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["status"] == "scheduled" and scheduled.json()["announcement"]

        # the owner may not approve (no Approvers role) — the checklist says why, item by item
        checklist = operator.get(f"maintenance-windows/{window_id}/checklist").json()
        before = [i for i in checklist if i["phase"] == "before"]
        assert before and not any(i["can_approve"] for i in before if not i["done"])
        open_item = next(i for i in before if not i["done"] and i["key"] != "on_call_confirmed")
        refused = operator.post(f"maintenance-windows/{window_id}/checklist/{open_item['id']}/approve", {"note": "x"})
        assert_problem(refused, 403, "permission")

        # starting before the "before" checklist is complete: the rule, as a problem naming the missing items
        clock.move_to(JAN_TUE_0200 + timedelta(seconds=5))
        body = assert_problem(operator.post(f"maintenance-windows/{window_id}/start", {}), 422)
        assert open_item["text"] in str(body)
        start = operator.get(f"maintenance-windows/{window_id}").json()["actions"]["start"]
        assert start["allowed"] is False and open_item["text"] in str(start["refusals"])  # the same rule, asked first
        clock.move_to(JAN_TUE_0200 - timedelta(hours=1))
        _approve_open_items(window_id, "before", [approver, admin])

        clock.move_to(JAN_TUE_0200 + timedelta(seconds=5))
        started = operator.post(f"maintenance-windows/{window_id}/start", {})
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "in_progress"
        eta = operator.post(
            f"maintenance-windows/{window_id}/eta",
            {"eta": (JAN_TUE_0200 + timedelta(minutes=55)).isoformat(), "reason": "Migration is slow."},
        )
        assert eta.status_code == 200, eta.text
        assert eta.json()["eta"].startswith((JAN_TUE_0200 + timedelta(minutes=55)).strftime("%Y-%m-%dT%H:%M"))
        clock.move_to(JAN_TUE_0200 + timedelta(minutes=40))
        _approve_open_items(window_id, "during", [approver, admin], skip_keys=("update_eta",))
        completed = operator.post(f"maintenance-windows/{window_id}/complete")
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "completed"

    window = MaintenanceWindow.objects.get(public_id=window_id)
    events = AuditEvent.objects.filter(target_type__model="maintenancewindow", target_id=str(window.pk))
    assert list(
        events.filter(action__startswith="maintenance.window.").order_by("id").values_list("action", flat=True)
    ) == [
        "maintenance.window.created",
        "maintenance.window.updated",
        "maintenance.window.scheduled",
        "maintenance.window.started",
        "maintenance.window.eta_changed",
        "maintenance.window.completed",
    ]
    token = ApiToken.objects.get(user=users["operator"])
    for event in events.filter(actor=users["operator"]):
        assert event.data["api_token"] == token.label
    on_call = events.get(action="maintenance.on_call.confirmed")
    assert on_call.actor == users["approver"]
    assert on_call.data["api_token"] == ApiToken.objects.get(user=users["approver"]).label


def test_four_eyes_holds_through_the_api(api_as, protocol):
    """The owner (here a superuser, who holds every permission) cannot be the sole approver of a before item."""
    users = protocol
    with time_machine.travel(JAN_TUE_0200 - timedelta(days=2), tick=True):
        admin = api_as(users["admin"], "read", "maintenance")
        window_id = _draft(admin).json()["id"]
        assert admin.post(f"maintenance-windows/{window_id}/schedule", {}).status_code == 200
        item = next(
            i
            for i in admin.get(f"maintenance-windows/{window_id}/checklist").json()
            if i["phase"] == "before" and not i["done"] and i["key"] == "rollback_plan"
        )
        assert item["can_approve"] is False and item["refusal"]
        body = assert_problem(
            admin.post(f"maintenance-windows/{window_id}/checklist/{item['id']}/approve", {"note": "ok"}), 422
        )
        assert body["code"] == "separation_of_duties"  # the rule that refused, by name
        assert not AuditEvent.objects.filter(action="maintenance.checklist.approved", actor=users["admin"]).exists()


def test_policy_refusal_names_the_rule(api_as, protocol):
    users = protocol
    with time_machine.travel(JAN_TUE_0200 - timedelta(hours=2), tick=True):  # less than the routine notice
        operator = api_as(users["operator"], "read", "maintenance")
        window_id = _draft(operator).json()["id"]
        body = assert_problem(operator.post(f"maintenance-windows/{window_id}/schedule", {}), 422, "notice")
        assert "notice" in str(body).lower()
        assert MaintenanceWindow.objects.get(public_id=window_id).status == "draft"
        cancelled = operator.post(f"maintenance-windows/{window_id}/cancel", {"reason": "Superseded."})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert_problem(operator.post(f"maintenance-windows/{window_id}/start", {}), 409, "invalid_transition")


def test_maintenance_scope_and_roles(api_as, protocol):
    users = protocol
    assert_problem(_draft(api_as(users["operator"], "read")), 403)  # no maintenance scope
    assert_problem(_draft(api_as(users["viewer"], "read", "maintenance")), 403, "permission")  # role refuses
    listing = api_as(users["viewer"]).get("maintenance-windows", params={"status": "draft"})
    assert listing.status_code == 200 and listing.json()["results"] == []
