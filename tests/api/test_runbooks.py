"""Runbook executions through the API: launch with parameters, status, output followed by offset, cancel."""

from __future__ import annotations

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks import runner
from runbooks.models import RunbookExecution
from tests.api.conftest import assert_problem
from tests.runbooks.factories import HostFactory, runbook_with_steps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smoke(live_server, role_users):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    HostFactory(name="web-1", roles="web")
    return runbook_with_steps(
        "smoke", [{"task": "smoke_test", "params": {"checks": f"{live_server.url}/favicon.ico 200"}}], name="Smoke"
    )


def test_launch_follow_output_and_audit(api_as, role_users, smoke, live_server):
    api = api_as(role_users["operator"], "read", "runbooks")
    launched = api.post(
        "executions",
        {"runbook": "smoke", "host": "web-1", "parameters": {"checks": f"{live_server.url}/healthz 200"}},
        headers={"Idempotency-Key": "deploy-7"},
    )
    assert launched.status_code == 201, launched.text
    execution = launched.json()
    assert execution["status"] == "queued" and execution["requested_via"] == "api" and not execution["final"]
    # a CI retry never launches a second run
    again = api.post(
        "executions",
        {"runbook": "smoke", "host": "web-1", "parameters": {"checks": f"{live_server.url}/healthz 200"}},
        headers={"Idempotency-Key": "deploy-7"},
    )
    assert again.json()["id"] == execution["id"] and RunbookExecution.objects.count() == 1

    before = api.get(f"executions/{execution['id']}/output").json()
    assert before == {"offset": 0, "next_offset": 0, "text": "", "status": "queued", "final": False, "exit_code": None}
    runner.run_execution(execution["id"])  # what the worker does (the real runner, the real HTTP check)

    status = api.get(f"executions/{execution['id']}").json()
    assert status["status"] == "succeeded" and status["final"] and status["steps"][0]["status"] == "succeeded"
    whole = api.get(f"executions/{execution['id']}/output").json()
    assert whole["final"] and "/healthz" in whole["text"] and whole["text"].startswith("==> step 1")
    tail = api.get(f"executions/{execution['id']}/output", params={"offset": 5}).json()
    assert tail["offset"] == 5 and tail["text"] == whole["text"][5:] and tail["next_offset"] == whole["next_offset"]
    done = api.get(f"executions/{execution['id']}/output", params={"offset": whole["next_offset"]}).json()
    assert done["text"] == "" and done["final"]
    assert_problem(api.get(f"executions/{execution['id']}/output", params={"offset": -1}), 400)

    launch_event = AuditEvent.objects.filter(
        action__startswith="runbooks.execution", actor=role_users["operator"]
    ).first()
    assert launch_event is not None and launch_event.data["api_token"].startswith("ersen_")


def test_unknown_parameter_is_refused_with_the_rule(api_as, role_users, smoke):
    api = api_as(role_users["operator"], "read", "runbooks")
    body = assert_problem(
        api.post("executions", {"runbook": "smoke", "host": "web-1", "parameters": {"nope": "1"}}), 422
    )
    assert "nope" in body["detail"]
    assert_problem(api.post("executions", {"runbook": "missing", "host": "web-1"}), 400, "invalid")
    assert RunbookExecution.objects.count() == 0


def test_cancel_a_queued_run_and_roles(api_as, role_users, smoke):
    operator = api_as(role_users["operator"], "read", "runbooks")
    execution = operator.post("executions", {"runbook": "smoke", "host": "web-1"}).json()
    assert_problem(api_as(role_users["viewer"], "read", "runbooks").post(f"executions/{execution['id']}/cancel"), 403)
    assert_problem(
        api_as(role_users["commander"], "read", "runbooks").post("executions", {"runbook": "smoke", "host": "web-1"}),
        403,
    )
    cancelled = operator.post(f"executions/{execution['id']}/cancel", {"reason": "Wrong host."})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_problem(operator.post(f"executions/{execution['id']}/cancel"), 409, "invalid_transition")
    listing = operator.get("executions", params={"status": "cancelled", "runbook": "smoke"}).json()
    assert [e["id"] for e in listing["results"]] == [execution["id"]]
