"""Workflow buttons and confirmation pages: blocked actions say why (and who can), confirmations say exactly
what will happen, a refused action offers no Confirm button; the window page leads to the next step."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from ersen_ops.core.admin_workflow import role_refusal
from ersen_ops.core.roles import APPROVERS, OPERATORS, roles_with
from ersen_ops.core.timezones import COOKIE
from maintenance.choices import WindowStatus
from runbooks.choices import ExecutionStatus
from tests.access import long_sessions
from tests.maintenance.conftest import schedule
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.runbooks.factories import ExecutionFactory, RunbookFactory

pytestmark = pytest.mark.django_db

NOW = JAN_TUE_0200 - timedelta(days=2)


@pytest.fixture(autouse=True)
def _long_sessions(settings):
    long_sessions(settings)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def change_url(window):
    return reverse("admin:maintenance_maintenancewindow_change", args=[window.pk])


def action_url(window, action):
    return reverse("admin:maintenance_maintenancewindow_workflow", args=[window.pk, action])


def test_role_refusals_name_who_can_do_it():
    assert roles_with("maintenance.transition_maintenancewindow") == [OPERATORS]
    assert roles_with("maintenance.approve_checklistitem") == [APPROVERS]
    assert role_refusal("maintenance.approve_checklistitem") == (
        "Your role does not include this action. Approvers can do it."
    )
    assert role_refusal("auth.delete_user").endswith("Only an administrator can.")


def test_blocked_start_is_disabled_with_the_missing_items_written_out(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"], on_call_engineer=users["approver"])
    schedule(window, users["operator"], now=NOW)
    client.force_login(users["operator"])
    html = client.get(change_url(window)).content.decode()
    bar = html[html.index('id="workflow-actions"') :]
    bar = bar[: bar.index("</div>")]
    assert 'data-action="start" aria-disabled="true"' in bar
    assert "<strong>Start</strong> is not possible yet: Cannot start: 3 “before” item(s) not done" in bar
    assert f'href="{action_url(window, "cancel")}" class="button workflow-button deletelink"' in bar


def test_viewer_sees_one_line_saying_which_role_may_act(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"], now=NOW)
    client.force_login(users["viewer"])
    html = client.get(change_url(window)).content.decode()
    assert "Your role does not include Start, Cancel window (Operators can do them)." in html


def test_a_refused_action_offers_no_confirm_button(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"], now=NOW)
    client.force_login(users["operator"])
    html = client.get(action_url(window, "start")).content.decode()
    assert "Confirm: Start" not in html and "Start: not possible now" in html
    assert "Cannot start: 3 “before” item(s) not done" in html
    window.refresh_from_db()
    assert window.status == WindowStatus.SCHEDULED


def test_start_confirmation_says_exactly_what_will_happen(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"], now=NOW)
    client.force_login(users["operator"])
    html = client.get(action_url(window, "start")).content.decode()
    assert "This touches production." in html
    assert "The window becomes <strong>In progress</strong>; its actual start is now." in html
    assert "The public status page shows <strong>Database</strong> as Under maintenance." in html
    assert "“Under Maintenance” is announced to: Status page." in html


def test_schedule_confirmation_shows_the_announcement_and_the_protocols_verdict(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"], planned_start=JAN_TUE_0200 + timedelta(days=1))
    client.force_login(users["operator"])
    html = client.get(action_url(window, "schedule")).content.decode()
    assert "Confirm: Schedule" not in html and "Schedule: not possible now" in html
    assert "must lie inside one slot" in html
    assert "Next valid routine slots for this window: Tue 2027-01-12 02:00–03:00 PST" in html
    assert "<pre class='announcement'>## Scheduled Maintenance" in html


def test_cancel_confirmation_of_a_draft_says_nothing_is_sent(client, users):
    window = MaintenanceWindowFactory(owner=users["operator"])
    client.force_login(users["operator"])
    html = client.get(action_url(window, "cancel")).content.decode()
    assert "The draft becomes Cancelled. Nothing was announced, so nothing is sent." in html


def test_next_slots_can_be_picked_into_the_form_in_the_operators_zone(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"], planned_start=JAN_TUE_0200 + timedelta(days=1))
    client.force_login(users["operator"])
    client.cookies[COOKIE] = "Europe/Berlin"
    html = client.get(change_url(window)).content.decode()
    # Tue 2027-01-12 02:00 PST = 11:00 in Berlin; the window lasts 1 h.
    assert (
        'data-start-date="2027-01-12" data-start-time="11:00:00" data-end-date="2027-01-12" data-end-time="12:00:00"'
        in html
    )
    client.force_login(users["viewer"])
    assert "use-slot" not in client.get(change_url(window)).content.decode()


def test_a_new_window_lands_on_its_own_page(client, users):
    from tests.factories import ComponentFactory

    component = ComponentFactory(name="Database")
    client.force_login(users["operator"])
    start = JAN_TUE_0200 + timedelta(days=7)
    response = client.post(
        reverse("admin:maintenance_maintenancewindow_add"),
        {
            "title": "Deploy 2.5",
            "type": "routine",
            "planned_start_0": f"{start:%Y-%m-%d}",
            "planned_start_1": f"{start:%H:%M:%S}",
            "planned_end_0": f"{start:%Y-%m-%d}",
            "planned_end_1": f"{start + timedelta(hours=1):%H:%M:%S}",
            "components": [component.pk],
            "impact": "Read-only",
            "reason": "Release",
            "rollback_plan": "Redeploy",
            "owner": users["operator"].pk,
            "on_call_engineer": "",
        },
    )
    from maintenance.models import MaintenanceWindow

    window = MaintenanceWindow.objects.get(title="Deploy 2.5")
    assert response.status_code == 302 and response["Location"] == change_url(window)


def test_window_page_lists_its_runbook_runs_and_offers_run_buttons(client, users, frozen):
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"], now=NOW)
    runbook = RunbookFactory(name="Database backup", slug="database-backup")
    execution = ExecutionFactory(
        runbook=runbook,
        window=window,
        status=ExecutionStatus.SUCCEEDED,
        result={"verified": True, "size": 2048, "sha256": "ab" * 32, "path": "/b.sql"},
    )
    client.force_login(users["operator"])
    html = client.get(change_url(window)).content.decode()
    run_url = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run"]) + f"?window={window.pk}"
    assert f'href="{run_url}"' in html and "Run “Database backup”…" in html
    assert reverse("admin:runbooks_runbookexecution_change", args=[execution.pk]) in html
    assert "verified backup, 2.0\xa0KB" in html
    client.force_login(users["viewer"])
    html = client.get(change_url(window)).content.decode()
    assert "runbook-launch" not in html and f"#{execution.pk} Database backup" in html
