"""The window lifecycle through the services: each transition audited, gated and announced."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import InvalidTransition, PermissionRefused, PolicyViolation
from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.models import NotificationDelivery
from maintenance import services
from maintenance.choices import ChecklistPhase, ItemKey, MaintenanceType, WindowStatus
from maintenance.models import ChecklistItem, EtaChange
from tests.maintenance.conftest import approve_phase, schedule
from tests.maintenance.factories import JAN_TUE_0200, FreezePeriodFactory, MaintenanceWindowFactory, utc

pytestmark = pytest.mark.django_db


def actions(window):
    return list(
        AuditEvent.objects.filter(target_id=str(window.pk), action__startswith="maintenance.window")
        .order_by("id")
        .values_list("action", flat=True)
    )


def deliveries(window, event):
    return sorted(
        NotificationDelivery.objects.filter(related_id=str(window.pk), event=event).values_list("channel", flat=True)
    )


def test_create_is_a_draft_owned_by_its_creator(users):
    window = services.window_create(
        actor=users["operator"],
        title="Patch kernel",
        type=MaintenanceType.ROUTINE,
        planned_start=JAN_TUE_0200,
        planned_end=JAN_TUE_0200 + timedelta(hours=1),
        impact="Short outage",
        reason="CVE",
    )
    assert window.status == WindowStatus.DRAFT and window.owner == users["operator"]
    assert window.public_id.startswith("mnt_")
    assert actions(window) == ["maintenance.window.created"]


def test_viewer_cannot_create_or_schedule(users, make_window):
    with pytest.raises(PermissionRefused):
        services.window_create(
            actor=users["viewer"],
            title="x",
            planned_start=JAN_TUE_0200,
            planned_end=JAN_TUE_0200 + timedelta(hours=1),
            impact="i",
            reason="r",
        )
    window = make_window()
    with pytest.raises(PermissionRefused):
        schedule(window, users["viewer"])
    window.refresh_from_db()
    assert window.status == WindowStatus.DRAFT


def test_schedule_instantiates_the_seed_checklists_publishes_and_approves_status_page_items(scheduled_window, users):
    window = scheduled_window
    assert window.status == WindowStatus.SCHEDULED
    assert window.announced_at == JAN_TUE_0200 - timedelta(days=2)
    assert window.eta == window.planned_end
    assert window.scheduled_phase == "postlaunch"
    texts = {
        phase: list(
            ChecklistItem.objects.filter(window=window, phase=phase).order_by("order").values_list("text", flat=True)
        )
        for phase in ChecklistPhase
    }
    assert texts[ChecklistPhase.BEFORE] == [
        "Backup completed and verified",
        "Rollback plan documented",
        'Status page updated to "Scheduled Maintenance"',
        "On-call engineer confirmed available",
        "Estimated completion time communicated",
    ]
    assert texts[ChecklistPhase.DURING] == [
        'Status page shows "Under Maintenance"',
        "Monitor logs for issues",
        "Test core functionality after changes",
        "Update ETA if running long",
    ]
    assert texts[ChecklistPhase.AFTER] == [
        'Status page updated to "Operational"',
        "Smoke test all critical paths (login, widgets, payments)",
        "Post-maintenance summary in #team-ops",
    ]
    assert deliveries(window, "maintenance.scheduled") == [Channel.STATUS_PAGE]
    delivery = NotificationDelivery.objects.get(related_id=str(window.pk), event="maintenance.scheduled")
    assert delivery.body == window.announcement
    done = set(ChecklistItem.objects.filter(window=window, done_at__isnull=False).values_list("key", flat=True))
    assert done == {ItemKey.STATUS_SCHEDULED, ItemKey.ETA_COMMUNICATED}
    assert actions(window) == ["maintenance.window.scheduled"]
    event = AuditEvent.objects.get(target_id=str(window.pk), action="maintenance.window.scheduled")
    assert (
        event.actor == users["operator"]
        and event.data["before"]["status"] == "draft"
        and event.data["after"]["status"] == "scheduled"
    )


def test_later_template_edits_do_not_rewrite_a_scheduled_window(scheduled_window):
    from maintenance.models import ChecklistTemplateItem

    ChecklistTemplateItem.objects.filter(text="Monitor logs for issues").update(text="Watch Grafana")
    assert ChecklistItem.objects.filter(window=scheduled_window, text="Monitor logs for issues").exists()


def test_schedule_refusal_gives_the_rule_and_numbers(make_window, users, postlaunch):
    window = make_window()
    with pytest.raises(PolicyViolation) as exc:
        services.window_schedule(
            actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(hours=19, minutes=12)
        )
    assert "Routine maintenance needs 24 h notice; scheduling now gives 19 h 12 min." in str(exc.value)
    window.refresh_from_db()
    assert window.status == WindowStatus.DRAFT
    assert not NotificationDelivery.objects.exists()


def test_overlap_names_the_other_window(make_window, users, postlaunch):
    first = make_window(title="Database upgrade")
    schedule(first, users["operator"])
    second = make_window(title="Index rebuild", planned_start=JAN_TUE_0200 + timedelta(minutes=30))
    with pytest.raises(PolicyViolation) as exc:
        schedule(second, users["operator"])
    assert (
        f"Overlaps “Database upgrade” ({first.public_id}, scheduled, Tue 2027-01-12 02:00–03:00 PST) on Database"
        in str(exc.value)
    )


def test_cancelled_windows_do_not_block_others(make_window, users, postlaunch):
    first = make_window(title="Database upgrade")
    schedule(first, users["operator"])
    services.window_cancel(
        actor=users["operator"], window=first, reason="Postponed", now=JAN_TUE_0200 - timedelta(days=2)
    )
    second = make_window(title="Index rebuild")
    schedule(second, users["operator"])
    assert second.status == WindowStatus.SCHEDULED


def test_freeze_names_the_freeze(make_window, users, postlaunch):
    FreezePeriodFactory(name="Black Friday freeze")
    window = make_window()
    with pytest.raises(PolicyViolation) as exc:
        schedule(window, users["operator"])
    assert "the freeze “Black Friday freeze”" in str(exc.value)


def test_emergency_may_override_a_freeze_with_justification(make_window, users, postlaunch):
    FreezePeriodFactory()
    window = make_window(type=MaintenanceType.EMERGENCY)
    now = JAN_TUE_0200
    with pytest.raises(PolicyViolation):
        services.window_schedule(actor=users["operator"], window=window, now=now)
    services.window_schedule(actor=users["operator"], window=window, now=now, justification="Data loss risk")
    assert window.status == WindowStatus.SCHEDULED and window.emergency_justification == "Data loss risk"
    assert deliveries(window, "maintenance.scheduled") == sorted(Channel.values)


def test_prelaunch_long_window_notifies_discord_and_slack(make_window, users, prelaunch):
    window = make_window(planned_start=utc(2027, 1, 13, 20, 0), planned_end=utc(2027, 1, 13, 20, 30))
    services.window_schedule(actor=users["operator"], window=window, now=utc(2027, 1, 13, 19, 55))
    assert window.scheduled_phase == "prelaunch"
    assert deliveries(window, "maintenance.scheduled") == sorted([Channel.STATUS_PAGE, Channel.DISCORD, Channel.SLACK])


def test_illegal_transition_names_the_current_state(scheduled_window, users):
    with pytest.raises(InvalidTransition) as exc:
        services.window_complete(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    assert "it is scheduled" in str(exc.value)
    with pytest.raises(InvalidTransition) as exc:
        services.window_schedule(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    assert "it is scheduled" in str(exc.value)


def test_start_gate_lists_the_missing_before_items(scheduled_window, users):
    with pytest.raises(PolicyViolation) as exc:
        services.window_start(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    message = str(exc.value)
    assert "3 “before” item(s) not done" in message
    for text in ("Backup completed and verified", "Rollback plan documented", "On-call engineer confirmed available"):
        assert f"“{text}”" in message
    assert "Status page updated" not in message
    scheduled_window.refresh_from_db()
    assert scheduled_window.status == WindowStatus.SCHEDULED


def test_routine_window_cannot_start_before_its_announced_start(scheduled_window, users):
    approve_phase(
        scheduled_window,
        ChecklistPhase.BEFORE,
        [users["approver"], users["admin"]],
        now=JAN_TUE_0200 - timedelta(hours=1),
    )
    with pytest.raises(PolicyViolation) as exc:
        services.window_start(
            actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200 - timedelta(minutes=20)
        )
    assert "it cannot start 20 min early" in str(exc.value)


def run_full_lifecycle(window, users):
    approvers = [users["approver"], users["admin"]]
    approve_phase(window, ChecklistPhase.BEFORE, approvers, now=JAN_TUE_0200 - timedelta(hours=1))
    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    with pytest.raises(PolicyViolation) as exc:
        services.window_complete(actor=users["operator"], window=window, now=JAN_TUE_0200 + timedelta(minutes=30))
    assert "“Monitor logs for issues”; “Test core functionality after changes”" in str(exc.value)
    assert "Under Maintenance" not in str(exc.value)  # approved by the system on start
    # "Update ETA if running long" is left to the system: the window finishes within its ETA.
    approve_phase(
        window,
        ChecklistPhase.DURING,
        approvers,
        now=JAN_TUE_0200 + timedelta(minutes=40),
        skip_keys=[ItemKey.UPDATE_ETA],
    )
    services.window_complete(actor=users["operator"], window=window, now=JAN_TUE_0200 + timedelta(minutes=50))
    return window


def test_full_lifecycle_is_audited_and_announced(scheduled_window, users):
    window = run_full_lifecycle(scheduled_window, users)
    assert window.status == WindowStatus.COMPLETED
    assert window.actual_start == JAN_TUE_0200 and window.actual_end == JAN_TUE_0200 + timedelta(minutes=50)
    assert actions(window) == [
        "maintenance.window.scheduled",
        "maintenance.window.started",
        "maintenance.window.completed",
    ]
    for event in ("maintenance.started", "maintenance.completed"):
        assert deliveries(window, event) == [Channel.STATUS_PAGE]
    assert deliveries(window, "maintenance.summary") == [Channel.SLACK_TEAM_OPS]
    summary = NotificationDelivery.objects.get(related_id=str(window.pk), event="maintenance.summary")
    assert summary.body == window.summary
    assert "Planned: Tue 2027-01-12 02:00–03:00 PST (1 h)" in window.summary
    assert "Actual: Tue 2027-01-12 02:00–02:50 PST (50 min)" in window.summary
    assert "Overrun: none (finished 10 min early)" in window.summary
    assert "- [x] Backup completed and verified — approver at Tue 2027-01-12 01:00 PST" in window.summary
    assert "- [ ] Smoke test all critical paths (login, widgets, payments) — not approved" in window.summary
    # Not closed until the "after" checklist is done.
    assert window.closed_at is None


def test_window_closes_when_the_after_checklist_is_done(scheduled_window, users):
    from maintenance.models import ChecklistItem

    window = run_full_lifecycle(scheduled_window, users)
    smoke = ChecklistItem.objects.get(window=window, key=ItemKey.SMOKE_TEST)
    services.checklist_approve(
        actor=users["approver"], item=smoke, note="login, widgets, payments OK", now=JAN_TUE_0200 + timedelta(hours=1)
    )
    window.refresh_from_db()
    assert window.closed_at is None  # the #team-ops summary is not sent yet
    summary_delivery = NotificationDelivery.objects.get(related_id=str(window.pk), event="maintenance.summary")
    summary_delivery.status = "sent"
    summary_delivery.sent_at = JAN_TUE_0200 + timedelta(hours=1, minutes=1)
    summary_delivery.save()
    assert services.checklist_sweep_sent_summaries() == 1
    assert services.checklist_sweep_sent_summaries() == 0  # idempotent
    window.refresh_from_db()
    assert window.closed_at == JAN_TUE_0200 + timedelta(hours=1, minutes=1)
    assert actions(window)[-1] == "maintenance.window.closed"
    item = ChecklistItem.objects.get(window=window, key=ItemKey.SUMMARY_TEAM_OPS)
    approval = item.approvals.get()
    assert approval.actor_name == "system:maintenance" and approval.evidence == summary_delivery


def test_on_delivery_sent_ignores_queued_deliveries(scheduled_window, users):
    window = run_full_lifecycle(scheduled_window, users)
    delivery = NotificationDelivery.objects.get(related_id=str(window.pk), event="maintenance.summary")
    assert services.on_delivery_sent(delivery) is None
    assert not ChecklistItem.objects.get(window=window, key=ItemKey.SUMMARY_TEAM_OPS).done_at


def test_emergency_starts_at_once_with_justification_and_keeps_debt(make_window, users, postlaunch):
    now = utc(2027, 1, 13, 20, 0)
    window = make_window(type=MaintenanceType.EMERGENCY, planned_start=now, planned_end=now + timedelta(hours=1))
    services.window_schedule(actor=users["operator"], window=window, now=now - timedelta(minutes=1))
    with pytest.raises(PolicyViolation):
        services.window_start(actor=users["operator"], window=window, now=now)
    services.window_start(
        actor=users["operator"],
        window=window,
        now=now - timedelta(seconds=30),
        justification="Payments down for everyone",
    )
    assert window.status == WindowStatus.IN_PROGRESS and window.actual_start == now - timedelta(seconds=30)
    assert "Payments down for everyone" in window.emergency_justification
    event = AuditEvent.objects.get(target_id=str(window.pk), action="maintenance.window.started")
    assert "Backup completed and verified" in event.data["open_before_items"]
    assert ChecklistItem.objects.filter(window=window, phase="before", done_at__isnull=True).count() == 3


def test_eta_changes_are_kept_as_history_and_announced(scheduled_window, users):
    window = scheduled_window
    approve_phase(
        window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200 - timedelta(hours=1)
    )
    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    first = window.eta
    services.window_update_eta(
        actor=users["operator"],
        window=window,
        new_eta=first + timedelta(minutes=30),
        reason="Migration slower than staging",
        now=JAN_TUE_0200 + timedelta(minutes=50),
    )
    services.window_update_eta(
        actor=users["operator"],
        window=window,
        new_eta=first + timedelta(minutes=45),
        reason="Reindexing",
        now=JAN_TUE_0200 + timedelta(minutes=80),
    )
    changes = list(
        EtaChange.objects.filter(window=window).values_list("changed_by_name", "old_eta", "new_eta", "reason")
    )
    assert changes == [
        ("operator", first, first + timedelta(minutes=30), "Migration slower than staging"),
        ("operator", first + timedelta(minutes=30), first + timedelta(minutes=45), "Reindexing"),
    ]
    window.refresh_from_db()
    assert window.eta == first + timedelta(minutes=45)
    assert NotificationDelivery.objects.filter(related_id=str(window.pk), event="maintenance.eta_changed").count() == 2
    assert actions(window).count("maintenance.window.eta_changed") == 2
    assert ChecklistItem.objects.get(window=window, key=ItemKey.UPDATE_ETA).done_at is not None


def test_eta_needs_a_reason_and_a_future_time(scheduled_window, users):
    window = scheduled_window
    approve_phase(
        window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200 - timedelta(hours=1)
    )
    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    with pytest.raises(PolicyViolation) as exc:
        services.window_update_eta(
            actor=users["operator"],
            window=window,
            new_eta=JAN_TUE_0200,
            reason=" ",
            now=JAN_TUE_0200 + timedelta(minutes=5),
        )
    assert "Say why" in str(exc.value) and "must be in the future" in str(exc.value)
    assert not EtaChange.objects.filter(window=window).exists()


def test_started_late_moves_the_eta_and_records_why(scheduled_window, users):
    window = scheduled_window
    approve_phase(
        window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200 - timedelta(hours=1)
    )
    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200 + timedelta(minutes=70))
    assert window.eta == JAN_TUE_0200 + timedelta(minutes=130)
    change = EtaChange.objects.get(window=window)
    assert change.changed_by_name == "system:maintenance" and "after the planned start" in change.reason


def test_cancel_needs_a_reason_and_announces_only_announced_windows(make_window, scheduled_window, users):
    with pytest.raises(PolicyViolation):
        services.window_cancel(actor=users["operator"], window=scheduled_window, reason="  ")
    services.window_cancel(
        actor=users["operator"],
        window=scheduled_window,
        reason="Vendor postponed the release",
        now=JAN_TUE_0200 - timedelta(days=1),
    )
    assert scheduled_window.status == WindowStatus.CANCELLED
    assert scheduled_window.cancellation_reason == "Vendor postponed the release"
    assert deliveries(scheduled_window, "maintenance.cancelled") == [Channel.STATUS_PAGE]
    draft = make_window(planned_start=JAN_TUE_0200 + timedelta(days=7))
    services.window_cancel(actor=users["operator"], window=draft, reason="Not needed")
    assert deliveries(draft, "maintenance.cancelled") == []
    assert actions(draft) == ["maintenance.window.cancelled"]
    with pytest.raises(InvalidTransition) as exc:
        services.window_cancel(actor=users["operator"], window=draft, reason="again")
    assert "it is cancelled" in str(exc.value)


def test_in_progress_window_cannot_be_cancelled(scheduled_window, users):
    approve_phase(
        scheduled_window,
        ChecklistPhase.BEFORE,
        [users["approver"], users["admin"]],
        now=JAN_TUE_0200 - timedelta(hours=1),
    )
    services.window_start(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    with pytest.raises(InvalidTransition) as exc:
        services.window_cancel(actor=users["operator"], window=scheduled_window, reason="stop")
    assert "it is in progress" in str(exc.value)


def test_rescheduling_a_scheduled_window_rechecks_and_reannounces(scheduled_window, users):
    window = scheduled_window
    now = JAN_TUE_0200 - timedelta(days=1, hours=1)
    with pytest.raises(PolicyViolation) as exc:
        services.window_update(
            actor=users["operator"],
            window=window,
            now=now,
            planned_start=JAN_TUE_0200 + timedelta(days=1),
            planned_end=JAN_TUE_0200 + timedelta(days=1, hours=1),
        )
    assert "must lie inside one slot" in str(exc.value)
    thursday = JAN_TUE_0200 + timedelta(days=2)
    services.window_update(
        actor=users["operator"],
        window=window,
        now=now,
        planned_start=thursday,
        planned_end=thursday + timedelta(hours=1),
    )
    window.refresh_from_db()
    assert window.announced_at == now and window.eta == thursday + timedelta(hours=1)
    assert "Thursday, January 14, 2027 02:00-03:00 PST" in window.announcement
    assert deliveries(window, "maintenance.rescheduled") == [Channel.STATUS_PAGE]
    notice = NotificationDelivery.objects.get(related_id=str(window.pk), event="maintenance.rescheduled")
    assert notice.body.startswith("Rescheduled. Previously: Tuesday, January 12, 2027 02:00-03:00 PST.\n\n")
    assert notice.body.endswith(window.announcement)
    assert "maintenance.window.updated" in actions(window)


def test_in_progress_window_times_cannot_be_edited(scheduled_window, users):
    approve_phase(
        scheduled_window,
        ChecklistPhase.BEFORE,
        [users["approver"], users["admin"]],
        now=JAN_TUE_0200 - timedelta(hours=1),
    )
    services.window_start(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    with pytest.raises(InvalidTransition) as exc:
        services.window_update(
            actor=users["operator"], window=scheduled_window, planned_end=JAN_TUE_0200 + timedelta(hours=2)
        )
    assert "Use “Update ETA”" in str(exc.value)
    services.window_update(actor=users["operator"], window=scheduled_window, rollback_plan="Restore snapshot 42")
    scheduled_window.refresh_from_db()
    assert scheduled_window.rollback_plan == "Restore snapshot 42"


def test_schedule_uses_a_frozen_clock_by_default(make_window, users, postlaunch):
    window = make_window()
    with time_machine.travel(JAN_TUE_0200 - timedelta(hours=30), tick=False):
        services.window_schedule(actor=users["operator"], window=window)
    assert window.announced_at == JAN_TUE_0200 - timedelta(hours=30)


def test_every_transition_leaves_an_audit_event(scheduled_window, make_window, users):
    window = run_full_lifecycle(scheduled_window, users)
    assert set(actions(window)) >= {
        "maintenance.window.scheduled",
        "maintenance.window.started",
        "maintenance.window.completed",
    }
    other = make_window(planned_start=JAN_TUE_0200 + timedelta(days=7))
    services.window_cancel(actor=users["operator"], window=other, reason="dup")
    assert actions(other) == ["maintenance.window.cancelled"]
    assert MaintenanceWindowFactory._meta.model.objects.count() == 2
