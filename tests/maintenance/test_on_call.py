"""The on-call engineer confirms their own availability (no approver role, no separation of duties, audited, asked
by email with a link to their page), and a window whose checklist nobody could complete is not scheduled."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.choices import Phase
from ersen_ops.core.errors import PolicyViolation
from ersen_ops.notifications.models import NotificationDelivery
from maintenance import policy, services
from maintenance.choices import ChecklistPhase, ItemKey, MaintenanceType, WindowStatus
from maintenance.models import ChecklistItem
from tests.factories import UserFactory, user_with_role
from tests.maintenance.conftest import schedule
from tests.maintenance.factories import JAN_TUE_0200

pytestmark = pytest.mark.django_db

NOW = JAN_TUE_0200 - timedelta(hours=2)

NEEDS = [
    policy.ChecklistNeed("Backup completed and verified", ChecklistPhase.BEFORE, ItemKey.BACKUP_VERIFIED),
    policy.ChecklistNeed("Rollback plan documented", ChecklistPhase.BEFORE, ItemKey.ROLLBACK_PLAN),
    policy.ChecklistNeed("On-call engineer confirmed available", ChecklistPhase.BEFORE, ItemKey.ON_CALL_CONFIRMED),
    policy.ChecklistNeed("Monitor logs for issues", ChecklistPhase.DURING, ItemKey.MONITOR_LOGS),
    policy.ChecklistNeed("Status page operational", ChecklistPhase.AFTER, ItemKey.STATUS_OPERATIONAL),
]
OWNER = policy.Person(1, "olga")
OTHER = policy.Person(2, "amir")


def people(**kwargs):
    facts = dict(
        items=NEEDS,
        window_type=MaintenanceType.ROUTINE,
        phase=Phase.POSTLAUNCH,
        owner=OWNER,
        on_call=OWNER,
        approvers=[OWNER, OTHER],
        owner_may_self_approve=False,
    )
    return policy.check_people(**{**facts, **kwargs})


def item(window, key):
    return ChecklistItem.objects.get(window=window, key=key)


# --- the rule (pure) ----------------------------------------------------------------------------------------


def test_people_rule_passes_when_an_approver_besides_the_owner_and_an_on_call_engineer_exist():
    assert people() == []


def test_people_rule_names_the_missing_on_call_engineer():
    [violation] = people(on_call=None)
    assert violation.rule == "people"
    assert "Name the window's on-call engineer: only they can confirm “On-call engineer confirmed available”" in (
        violation.message
    )


def test_people_rule_names_the_owner_who_cannot_be_sole_approver_after_launch():
    [violation] = people(approvers=[OWNER])
    assert "After launch the owner (olga) cannot be the sole approver of “Backup completed and verified”; " in (
        violation.message
    )
    assert "nobody else can approve (olga)" in violation.message and "Approvers role" in violation.message
    assert people(approvers=[OWNER], phase=Phase.PRELAUNCH) == []  # no separation of duties before launch
    assert people(approvers=[OWNER], owner_may_self_approve=True) == []


def test_people_rule_counts_approvers_against_required_approvals():
    items = [policy.ChecklistNeed("Smoke test", ChecklistPhase.AFTER, ItemKey.SMOKE_TEST, required_approvals=3)]
    [violation] = people(items=items)
    assert violation.message.startswith("“Smoke test” need(s) 3 approver(s); 2 user(s) can approve (olga, amir).")
    [nobody] = people(items=items[:1], approvers=[])
    assert "0 user(s) can approve (nobody)" in nobody.message


def test_people_rule_skips_an_emergencys_before_items_which_may_stay_open_with_a_justification():
    assert people(window_type=MaintenanceType.EMERGENCY, on_call=None, approvers=[OWNER]) == []


def test_on_call_confirmation_is_exempt_from_separation_of_duties():
    assert not policy.separation_of_duties_applies(
        phase=Phase.POSTLAUNCH,
        item_phase=ChecklistPhase.BEFORE,
        owner_may_self_approve=False,
        item_key=ItemKey.ON_CALL_CONFIRMED,
    )


# --- scheduling refuses what nobody could complete ---------------------------------------------------------


def test_schedule_is_refused_without_an_on_call_engineer_and_nothing_changes(make_window, users, postlaunch):
    window = make_window(on_call_engineer=None)
    with pytest.raises(PolicyViolation) as exc:
        schedule(window, users["operator"])
    assert "Name the window's on-call engineer" in str(exc.value)
    window.refresh_from_db()
    assert window.status == WindowStatus.DRAFT and not window.checklist_items.exists()
    assert not AuditEvent.objects.filter(action="maintenance.window.scheduled").exists()


def test_schedule_is_refused_when_the_owner_is_the_only_approver_after_launch(db, postlaunch, make_window):
    from django.contrib.auth import get_user_model

    get_user_model().objects.update(is_superuser=False)  # no superuser stands by as an approver
    owner = user_with_role("solo", "Approvers")
    operator = user_with_role("op", "Operators")
    window = make_window(owner=owner, on_call_engineer=owner)
    from django.contrib.auth.models import Group

    Group.objects.get(name="Approvers").user_set.set([owner])
    with pytest.raises(PolicyViolation) as exc:
        schedule(window, operator)
    assert "the owner (solo) cannot be the sole approver" in str(exc.value)
    # the draft page says so too (the same rule, read-only)
    assert any(v.rule == "people" for v in services.schedule_violations(window, now=NOW))


# --- the on-call engineer's own action ------------------------------------------------------------------------


def test_on_call_engineer_without_the_approver_role_confirms_and_it_is_audited(make_window, users, postlaunch):
    commander = users["commander"]  # an incident commander: no Approvers role
    window = make_window(on_call_engineer=commander)
    schedule(window, users["operator"])
    approval = services.checklist_confirm_on_call(actor=commander, window=window, note="phone +1 555", now=NOW)
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at == NOW
    assert approval.user == commander and "Confirmed by the on-call engineer commander" in approval.evidence_summary
    event = AuditEvent.objects.get(action="maintenance.on_call.confirmed")
    assert event.actor_name == "commander" and event.data["note"] == "phone +1 555" and event.data["became_done"]


def test_someone_else_cannot_confirm_for_the_on_call_engineer(make_window, users, postlaunch):
    window = make_window(on_call_engineer=users["commander"])
    schedule(window, users["operator"])
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_confirm_on_call(actor=users["approver"], window=window, now=NOW)
    assert "Only the window's on-call engineer (commander) can confirm being available." in str(exc.value)
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at is None


def test_an_owner_who_is_also_on_call_confirms_their_own_availability_after_launch(make_window, users, postlaunch):
    window = make_window(owner=users["approver"], on_call_engineer=users["approver"])
    schedule(window, users["operator"])
    services.checklist_confirm_on_call(actor=users["approver"], window=window, now=NOW)
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at is not None


def test_scheduling_emails_the_on_call_engineer_a_link_to_their_page(make_window, users, postlaunch, settings):
    settings.OPS_STATUS_PAGE_URL = "http://127.0.0.1:8107"
    window = make_window(on_call_engineer=users["commander"])
    schedule(window, users["operator"])
    delivery = NotificationDelivery.objects.get(event="maintenance.on_call_requested")
    url = "http://127.0.0.1:8107" + reverse("admin:maintenance_maintenancewindow_on_call", args=[window.pk])
    assert delivery.channel == "email" and delivery.extra_recipients == ["commander@ersen.xyz"]
    assert url in delivery.body and "no approver role needed" in delivery.body
    event = AuditEvent.objects.get(action="maintenance.on_call.requested")
    assert event.data["on_call_engineer"] == "commander" and event.data["url"] == url


def test_the_on_call_request_goes_to_the_engineer_only_not_the_team_list(make_window, users, postlaunch, settings):
    from ersen_ops.notifications.channels import get_channel

    settings.OPS_EMAIL_TO = ["ops-team@ersen.xyz"]
    window = make_window(on_call_engineer=users["commander"])
    schedule(window, users["operator"])
    email = get_channel("email")
    request = NotificationDelivery.objects.get(event="maintenance.on_call_requested")
    assert email.recipients(request) == ["commander@ersen.xyz"]
    users["commander"].email = ""
    request.extra_recipients = []
    assert email.not_configured_reason(request) == "no recipient: the person has no email address"
    announcement = NotificationDelivery.objects.filter(event="maintenance.scheduled", channel="email").first()
    if announcement is not None:  # routine windows are announced on the status page only
        assert "ops-team@ersen.xyz" in email.recipients(announcement)


def test_a_new_on_call_engineer_is_asked_and_the_old_confirmation_no_longer_counts(make_window, users, postlaunch):
    window = make_window(on_call_engineer=users["commander"])
    schedule(window, users["operator"])
    services.checklist_confirm_on_call(actor=users["commander"], window=window, now=NOW)
    newcomer = UserFactory(username="newcomer")
    services.window_update(actor=users["operator"], window=window, on_call_engineer=newcomer, now=NOW)
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at is None
    assert item(window, ItemKey.ON_CALL_CONFIRMED).approvals.get().revocation.reason == (
        "The window's on-call engineer changed."
    )
    assert NotificationDelivery.objects.filter(
        event="maintenance.on_call_requested", extra_recipients=["newcomer@ersen.xyz"]
    ).exists()


# --- the page the email links to ---------------------------------------------------------------------------------


def test_on_call_page_lets_the_engineer_confirm_and_tells_others_who_is_asked(client, make_window, users, postlaunch):
    window = make_window(on_call_engineer=users["commander"])
    schedule(window, users["operator"])
    url = reverse("admin:maintenance_maintenancewindow_on_call", args=[window.pk])
    client.force_login(users["viewer"])
    html = unescape(client.get(url).content.decode())
    assert "Only the window's on-call engineer (commander) can confirm being available." in html
    assert 'id="confirm-on-call"' not in html
    assert client.post(url).status_code == 400
    client.force_login(users["commander"])
    assert 'id="confirm-on-call"' in client.get(url).content.decode()
    response = client.post(url, {"note": "on my phone"})
    assert response.status_code == 302
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at is not None
    assert "commander confirmed at" in client.get(url).content.decode()
