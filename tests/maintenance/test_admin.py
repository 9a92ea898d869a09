"""The maintenance admin: list (constant queries), change form panels, workflow buttons, permissions, form errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from maintenance.choices import ChecklistPhase, ItemKey, WindowStatus
from maintenance.models import Approval, ChecklistItem, FreezePeriod, MaintenanceWindow
from tests.access import long_sessions
from tests.factories import ComponentFactory
from tests.maintenance.conftest import approve_phase, schedule
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:maintenance_maintenancewindow_changelist")
NOW = JAN_TUE_0200 - timedelta(days=2)


def change_url(window):
    return reverse("admin:maintenance_maintenancewindow_change", args=[window.pk])


def action_url(window, action):
    return reverse("admin:maintenance_maintenancewindow_workflow", args=[window.pk, action])


@pytest.fixture(autouse=True)
def _long_sessions(settings):
    # Tests travel to 2027; a login made today must still be valid there.
    long_sessions(settings)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def login(client, user):
    client.force_login(user)
    return client


# --- list -----------------------------------------------------------------------------------------------


def _make_windows(n, users):
    component = ComponentFactory(name="Database")
    for i in range(n):
        start = JAN_TUE_0200 + timedelta(days=7 * (i + 1))
        w = MaintenanceWindowFactory(owner=users["operator"], planned_start=start, components=[component])
        if i % 2 == 0:
            schedule(w, users["operator"], now=start - timedelta(days=2))


def _list_queries(client, django_assert_max_num_queries=None):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST_URL + "?all=")
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_admin_list_query_count_is_constant(client, users, postlaunch, django_assert_num_queries):
    login(client, users["operator"])
    _make_windows(10, users)
    _list_queries(client)  # warm the per-process caches (content types, settings) an earlier test may have cleared
    ten, response = _list_queries(client)
    assert response.content.decode().count('class="field-checklist_progress"') == 10
    MaintenanceWindow.objects.all().delete()
    _make_windows(200, users)
    with django_assert_num_queries(ten):
        response = client.get(LIST_URL + "?all=")
    assert response.content.decode().count('class="field-checklist_progress"') == 200  # all rows shown (?all=)


def test_admin_list_shows_progress_zones_and_overdue(client, users, scheduled_window):
    window = scheduled_window
    approve_phase(
        window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200 - timedelta(hours=1)
    )
    from maintenance import services

    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    login(client, users["viewer"])
    with time_machine.travel(window.eta + timedelta(minutes=25), tick=False):
        html = client.get(LIST_URL).content.decode()
    assert "Tue 2027-01-12 02:00 PST" in html and "2027-01-12 10:00 UTC" in html
    assert "6/12" in html  # 5 before + "Under Maintenance"
    assert 'class="overdue"' in html and "Overdue by 25 min" in html
    assert "In progress" in html


def test_admin_list_filters_and_search(client, users, scheduled_window):
    login(client, users["viewer"])
    for query in (
        "?type__exact=routine",
        "?status__exact=scheduled",
        "?scheduled_phase__exact=postlaunch",
        "?overdue=yes",
        "?q=Deploy",
        "?planned_start__year=2027",
    ):
        response = client.get(LIST_URL + query)
        assert response.status_code == 200, query
    assert scheduled_window.title in client.get(LIST_URL + "?status__exact=scheduled").content.decode()
    assert scheduled_window.title not in client.get(LIST_URL + "?status__exact=draft").content.decode()


# --- change form ------------------------------------------------------------------------------------------


def test_change_form_shows_announcement_checklists_and_approve_buttons_for_approvers(client, users, scheduled_window):
    login(client, users["approver"])
    html = client.get(change_url(scheduled_window)).content.decode()
    assert "**When**: Tuesday, January 12, 2027 02:00-03:00 PST" in html
    assert "Backup completed and verified" in html and "Post-maintenance summary in #team-ops" in html
    # the open "before" items while scheduled (the two the system approved have none); the approver is also the
    # on-call engineer, who confirms their own availability on their page
    assert html.count('class="button approve-button"') == 2
    assert html.count('class="button confirm-on-call-button"') == 1
    assert "system:maintenance" in html  # automated approvals shown with evidence
    assert "Notifications" in html and "Audit history" in html


def test_change_form_for_operators_has_no_approve_buttons_but_transition_buttons(client, users, scheduled_window):
    login(client, users["operator"])
    html = client.get(change_url(scheduled_window)).content.decode()
    assert "approve-button" not in html
    assert 'data-action="start"' in html and 'aria-disabled="true"' in html  # blocked by open "before" items
    assert "Backup completed and verified" in html
    assert 'data-action="cancel"' in html
    assert 'data-action="complete"' not in html and 'data-action="schedule"' not in html


def test_draft_change_form_shows_policy_check_and_next_slots(client, users, make_window, postlaunch, frozen):
    window = make_window(planned_start=JAN_TUE_0200 + timedelta(days=1))  # a Wednesday
    login(client, users["operator"])
    html = client.get(change_url(window)).content.decode()
    assert "Protocol check (if scheduled now)" in html
    assert "must lie inside one slot" in html
    assert "Next valid routine slots" in html and "Tue 2027-01-12 02:00 PST" in html
    assert 'data-action="schedule"' in html


# --- workflow: permissions, GET never mutates ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["schedule", "start", "update_eta", "complete", "cancel", "approve", "revoke"])
def test_viewer_gets_403_on_transition_urls(client, users, scheduled_window, action):
    login(client, users["viewer"])
    assert client.get(action_url(scheduled_window, action)).status_code == 403
    assert client.post(action_url(scheduled_window, action), {"reason": "x"}).status_code == 403
    scheduled_window.refresh_from_db()
    assert scheduled_window.status == WindowStatus.SCHEDULED


def test_approver_cannot_transition_and_operator_cannot_approve(client, users, scheduled_window):
    login(client, users["approver"])
    assert client.post(action_url(scheduled_window, "cancel"), {"reason": "x"}).status_code == 403
    login(client, users["operator"])
    item = ChecklistItem.objects.get(window=scheduled_window, key=ItemKey.ROLLBACK_PLAN)
    assert client.post(action_url(scheduled_window, "approve"), {"item": item.pk}).status_code == 403
    assert not item.approvals.exists()


@pytest.mark.parametrize("action", ["schedule", "start", "cancel", "approve", "revoke"])
def test_get_of_a_transition_url_never_mutates(client, users, make_window, postlaunch, action):
    window = make_window()
    login(client, users["admin"])
    before_events = AuditEvent.objects.count()
    response = client.get(action_url(window, action))
    assert response.status_code == 200
    window.refresh_from_db()
    assert window.status == WindowStatus.DRAFT
    assert AuditEvent.objects.count() == before_events


def test_schedule_confirmation_shows_the_policy_and_refuses_with_a_form_error(client, users, make_window, postlaunch):
    window = make_window()
    login(client, users["operator"])
    with time_machine.travel(JAN_TUE_0200 - timedelta(hours=19, minutes=12), tick=False):
        page = client.get(action_url(window, "schedule")).content.decode()
        assert "Routine maintenance needs 24 h notice; scheduling now gives 19 h 12 min." in page
        assert "## Scheduled Maintenance" in page
        response = client.post(action_url(window, "schedule"), {})
    assert response.status_code == 400
    assert (
        "Routine maintenance needs 24 h notice; scheduling now gives 19 h 12 min. Pick a slot on or after Thu 2027-01-14 02:00 PST, or use the urgent type."
        in response.content.decode()
    )
    window.refresh_from_db()
    assert window.status == WindowStatus.DRAFT


def test_operator_drives_the_lifecycle_from_the_admin(client, users, make_window, postlaunch):
    window = make_window(on_call_engineer=users["approver"])
    login(client, users["operator"])
    with time_machine.travel(NOW, tick=False):
        response = client.post(action_url(window, "schedule"), {})
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.status == WindowStatus.SCHEDULED
    login(client, users["approver"])
    for key, data in [
        (ItemKey.BACKUP_VERIFIED, {"note": "", "evidence_url": "https://backups.example/1"}),
        (ItemKey.ROLLBACK_PLAN, {"note": "read it"}),
    ]:
        item = ChecklistItem.objects.get(window=window, key=key)
        with time_machine.travel(JAN_TUE_0200 - timedelta(hours=1), tick=False):
            assert client.get(action_url(window, "approve") + f"?item={item.pk}").status_code == 200
            response = client.post(action_url(window, "approve"), {"item": item.pk, **data})
        assert response.status_code == 302, response.content.decode()
    with time_machine.travel(JAN_TUE_0200 - timedelta(hours=1), tick=False):
        on_call = reverse("admin:maintenance_maintenancewindow_on_call", args=[window.pk])
        assert client.post(on_call, {"note": ""}).status_code == 302
    login(client, users["operator"])
    with time_machine.travel(JAN_TUE_0200, tick=False):
        assert client.post(action_url(window, "start"), {}).status_code == 302
    window.refresh_from_db()
    assert window.status == WindowStatus.IN_PROGRESS
    with time_machine.travel(JAN_TUE_0200 + timedelta(minutes=50), tick=False):
        response = client.post(
            action_url(window, "update_eta"), {"new_eta": "2027-01-12 11:30:00", "reason": "Slow migration"}
        )
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.eta == JAN_TUE_0200 + timedelta(minutes=90)
    # Complete is blocked until the "during" items are done; the refusal lists them.
    with time_machine.travel(JAN_TUE_0200 + timedelta(minutes=60), tick=False):
        response = client.post(action_url(window, "complete"), {})
    assert response.status_code == 400 and "“Monitor logs for issues”" in response.content.decode()


def test_approve_refusal_is_a_form_error(client, users, scheduled_window):
    item = ChecklistItem.objects.get(window=scheduled_window, key=ItemKey.BACKUP_VERIFIED)
    login(client, users["approver"])
    response = client.post(action_url(scheduled_window, "approve"), {"item": item.pk})
    assert response.status_code == 400
    assert "needs evidence" in response.content.decode()
    assert not Approval.objects.filter(item=item, user=users["approver"]).exists()


def test_approve_refuses_an_item_of_another_window(client, users, scheduled_window, make_window):
    other = make_window(planned_start=JAN_TUE_0200 + timedelta(days=7))
    schedule(other, users["operator"])
    foreign = ChecklistItem.objects.get(window=other, key=ItemKey.ROLLBACK_PLAN)
    login(client, users["approver"])
    response = client.post(action_url(scheduled_window, "approve"), {"item": foreign.pk})
    assert response.status_code == 400
    assert not foreign.approvals.exists()


def test_revoke_from_the_admin(client, users, scheduled_window):
    from maintenance import services

    item = ChecklistItem.objects.get(window=scheduled_window, key=ItemKey.ROLLBACK_PLAN)
    approval = services.checklist_approve(actor=users["approver"], item=item)
    login(client, users["approver"])
    assert f"?approval={approval.pk}" in client.get(change_url(scheduled_window)).content.decode()
    response = client.post(action_url(scheduled_window, "revoke"), {"approval": approval.pk, "reason": "Wrong plan"})
    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.revoked_at is not None and approval.revocation.reason == "Wrong plan"


# --- saving the form goes through the services -----------------------------------------------------------


def _form_data(window=None, **overrides):
    data = {
        "title": "Deploy 2.5",
        "type": "routine",
        "planned_start_0": "2027-01-12",
        "planned_start_1": "10:00:00",
        "planned_end_0": "2027-01-12",
        "planned_end_1": "11:00:00",
        "components": [ComponentFactory(name="Database").pk],
        "impact": "Dashboard read-only",
        "reason": "Release",
        "rollback_plan": "Redeploy",
        "owner": "",
        "on_call_engineer": "",
    }
    if window is not None:
        data["owner"] = window.owner_id
        data["on_call_engineer"] = window.on_call_engineer_id or ""
    data.update(overrides)
    return data


def test_add_window_through_the_admin_is_audited(client, users, postlaunch):
    login(client, users["operator"])
    response = client.post(reverse("admin:maintenance_maintenancewindow_add"), _form_data(owner=users["operator"].pk))
    assert response.status_code == 302, response.content.decode()[:3000]
    window = MaintenanceWindow.objects.get(title="Deploy 2.5")
    assert window.status == WindowStatus.DRAFT and window.components.count() == 1
    assert AuditEvent.objects.filter(
        action="maintenance.window.created", target_id=str(window.pk), actor=users["operator"]
    ).exists()


def test_saving_a_scheduled_window_with_bad_times_shows_policy_errors(client, users, scheduled_window):
    login(client, users["operator"])
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            change_url(scheduled_window),
            _form_data(
                scheduled_window, title=scheduled_window.title, planned_start_0="2027-01-13", planned_end_0="2027-01-13"
            ),
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Routine maintenance must lie inside one slot" in html
    scheduled_window.refresh_from_db()
    assert scheduled_window.planned_start == JAN_TUE_0200


def test_viewer_cannot_change_a_window(client, users, scheduled_window):
    login(client, users["viewer"])
    response = client.post(change_url(scheduled_window), _form_data(scheduled_window, title="hacked"))
    assert response.status_code == 403
    scheduled_window.refresh_from_db()
    assert scheduled_window.title != "hacked"


def test_freeze_admin_is_audited_and_warns_about_windows_inside(client, users, scheduled_window):
    from ersen_ops.core import roles

    login(client, users["admin"])
    response = client.post(
        reverse("admin:maintenance_freezeperiod_add"),
        {
            "name": "Launch freeze",
            "start_0": "2027-01-11",
            "start_1": "00:00:00",
            "end_0": "2027-01-14",
            "end_1": "00:00:00",
            "reason": "Launch",
        },
        follow=True,
    )
    assert response.status_code == 200
    freeze = FreezePeriod.objects.get(name="Launch freeze")
    assert AuditEvent.objects.filter(action="maintenance.freeze.created", target_id=str(freeze.pk)).exists()
    assert "already fall inside" in response.content.decode()
    assert "maintenance.add_freezeperiod" in roles.ROLE_PERMISSIONS[roles.OPERATORS]


def test_checklist_template_admin_shows_the_seed_and_audits_edits(client, users):
    from maintenance.models import ChecklistTemplate

    login(client, users["admin"])
    template = ChecklistTemplate.objects.get(phase="after")
    url = reverse("admin:maintenance_checklisttemplate_change", args=[template.pk])
    html = client.get(url).content.decode()
    assert "Smoke test all critical paths (login, widgets, payments)" in html
    items = list(template.items.order_by("order"))
    data = {
        "phase": "after",
        "title": "After Maintenance",
        "items-TOTAL_FORMS": len(items),
        "items-INITIAL_FORMS": len(items),
        "items-MIN_NUM_FORMS": 0,
        "items-MAX_NUM_FORMS": 1000,
    }
    for i, it in enumerate(items):
        data.update(
            {
                f"items-{i}-id": it.pk,
                f"items-{i}-template": template.pk,
                f"items-{i}-order": it.order,
                f"items-{i}-text": it.text,
                f"items-{i}-key": it.key,
                f"items-{i}-required_approvals": 2 if it.key == "smoke_test" else 1,
            }
        )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="maintenance.checklist_template.changed")
    assert event.data["after"]["items"][1]["required_approvals"] == 2


def test_only_emergency_windows_are_asked_for_a_justification(client, users, make_window, postlaunch):
    from maintenance.choices import MaintenanceType

    routine = make_window()
    emergency = make_window(type=MaintenanceType.EMERGENCY, planned_start=JAN_TUE_0200 + timedelta(days=20))
    login(client, users["operator"])
    assert 'name="justification"' not in client.get(action_url(routine, "schedule")).content.decode()
    assert 'name="justification"' in client.get(action_url(emergency, "schedule")).content.decode()
