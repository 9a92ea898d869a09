"""Sweepers with a frozen clock: overdue windows (once per overrun), routine reminders (once), sent summaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.models import NotificationDelivery
from maintenance import services, tasks
from maintenance.choices import ChecklistPhase, MaintenanceType
from tests.maintenance.conftest import approve_phase, schedule
from tests.maintenance.factories import JAN_TUE_0200, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_window(scheduled_window, users):
    approve_phase(
        scheduled_window,
        ChecklistPhase.BEFORE,
        [users["approver"], users["admin"]],
        now=JAN_TUE_0200 - timedelta(hours=1),
    )
    services.window_start(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    return scheduled_window


def overdue_notices(window):
    return NotificationDelivery.objects.filter(related_id=str(window.pk), event="maintenance.overdue")


def test_overdue_detection_with_a_frozen_clock(running_window, users):
    window = running_window
    eta = window.eta
    with time_machine.travel(eta - timedelta(seconds=1), tick=False):
        assert tasks.mark_overdue() == 0
    with time_machine.travel(eta + timedelta(minutes=1), tick=False):
        assert tasks.mark_overdue() == 1
        assert tasks.mark_overdue() == 0  # once per overrun
    window.refresh_from_db()
    assert window.overdue_since == eta + timedelta(minutes=1) and window.overdue_notified_eta == eta
    assert overdue_notices(window).count() == 1
    assert overdue_notices(window).get().channel == "status_page"
    event = AuditEvent.objects.get(action="maintenance.window.overdue", target_id=str(window.pk))
    assert event.actor_name == "system:maintenance-sweeper" and event.data["first_overrun"] is True
    with time_machine.travel(eta + timedelta(minutes=30), tick=False):
        assert tasks.mark_overdue() == 0
    # A new ETA clears the flag; overrunning it again notifies again.
    services.window_update_eta(
        actor=users["operator"],
        window=window,
        new_eta=eta + timedelta(hours=1),
        reason="Reindex",
        now=eta + timedelta(minutes=31),
    )
    window.refresh_from_db()
    assert window.overdue_since is None
    with time_machine.travel(eta + timedelta(hours=1, minutes=2), tick=False):
        assert tasks.mark_overdue() == 1
    assert overdue_notices(window).count() == 2


def test_overdue_window_cannot_skip_the_update_eta_item(running_window, users):
    window = running_window
    with time_machine.travel(window.eta + timedelta(minutes=5), tick=False):
        services.windows_mark_overdue()
    approve_phase(
        window,
        ChecklistPhase.DURING,
        [users["approver"]],
        now=window.eta + timedelta(minutes=6),
        skip_keys=["update_eta"],
    )
    from ersen_ops.core.errors import PolicyViolation

    with pytest.raises(PolicyViolation) as exc:
        services.window_complete(actor=users["operator"], window=window, now=window.eta + timedelta(minutes=10))
    assert "“Update ETA if running long”" in str(exc.value)


def test_completion_summary_reports_the_overrun(running_window, users):
    window = running_window
    planned_end = window.planned_end
    services.window_update_eta(
        actor=users["operator"],
        window=window,
        new_eta=planned_end + timedelta(minutes=20),
        reason="Slow",
        now=planned_end - timedelta(minutes=5),
    )
    approve_phase(window, ChecklistPhase.DURING, [users["approver"]], now=planned_end)
    services.window_complete(actor=users["operator"], window=window, now=planned_end + timedelta(minutes=15))
    assert "Overrun: 15 min past the planned end" in window.summary
    assert "ETA changes:" in window.summary and "by operator" in window.summary and "— Slow" in window.summary
    assert "Runbook executions: none" in window.summary and "Incidents linked: none" in window.summary


def test_routine_reminder_goes_out_once_an_hour_before(scheduled_window):
    window = scheduled_window
    with time_machine.travel(JAN_TUE_0200 - timedelta(minutes=61), tick=False):
        assert tasks.send_reminders() == 0
    with time_machine.travel(JAN_TUE_0200 - timedelta(minutes=60), tick=False):
        assert tasks.send_reminders() == 1
    with time_machine.travel(JAN_TUE_0200 - timedelta(minutes=30), tick=False):
        assert tasks.send_reminders() == 0
    reminders = NotificationDelivery.objects.filter(related_id=str(window.pk), event="maintenance.reminder")
    assert reminders.count() == 1 and reminders.get().channel == "status_page"
    assert "Reminder" in reminders.get().body and window.announcement in reminders.get().body
    assert AuditEvent.objects.filter(action="maintenance.window.reminder_sent", target_id=str(window.pk)).count() == 1


def test_reminder_lead_time_is_configurable(scheduled_window, settings):
    settings.OPS_MAINTENANCE_REMINDER_MINUTES = 15
    assert services.windows_send_reminders(JAN_TUE_0200 - timedelta(minutes=30)) == 0
    assert services.windows_send_reminders(JAN_TUE_0200 - timedelta(minutes=15)) == 1


def test_no_reminder_for_urgent_or_cancelled_windows(make_window, users, postlaunch):
    start = utc(2027, 1, 13, 20, 0)
    urgent = make_window(type=MaintenanceType.URGENT, planned_start=start, planned_end=start + timedelta(hours=1))
    schedule(urgent, users["operator"], now=start - timedelta(hours=5))
    routine = make_window(planned_start=JAN_TUE_0200 + timedelta(days=7))
    schedule(routine, users["operator"])
    services.window_cancel(actor=users["operator"], window=routine, reason="moved", now=JAN_TUE_0200)
    assert services.windows_send_reminders(start - timedelta(minutes=30)) == 0
    assert services.windows_send_reminders(routine.planned_start - timedelta(minutes=30)) == 0


def test_schedules_are_declared_every_minute():
    from maintenance.schedules import SCHEDULES

    assert {s.func: s.minutes for s in SCHEDULES} == {
        "maintenance.tasks.mark_overdue": 1,
        "maintenance.tasks.send_reminders": 1,
        "maintenance.tasks.sweep_sent_summaries": 1,
    }


def test_summary_lists_runbook_executions_and_linked_incidents(running_window, users):
    from incidents.choices import Level
    from tests.incidents.factories import open_incident
    from tests.maintenance.test_approvals import verified_backup

    window = running_window
    verified_backup(window)
    incident = open_incident(
        level=Level.P2,
        title="Checkout errors after deploy",
        now=JAN_TUE_0200 + timedelta(minutes=10),
        maintenance_window=window,
    )
    approve_phase(
        window,
        ChecklistPhase.DURING,
        [users["approver"]],
        now=JAN_TUE_0200 + timedelta(minutes=40),
        skip_keys=["update_eta"],
    )
    services.window_complete(actor=users["operator"], window=window, now=JAN_TUE_0200 + timedelta(minutes=45))
    assert "Runbook executions:\n- " in window.summary and "Succeeded — " in window.summary
    assert "sha256=" in window.summary and "verified=True" in window.summary
    assert f"Incidents linked:\n- {incident.public_id} {incident}: Investigating" in window.summary


def test_two_sweepers_at_once_send_one_reminder_and_one_overrun_notice(transactional_postgres):
    import threading

    from tests.factories import make_role_users
    from tests.maintenance.factories import MaintenanceWindowFactory

    users = make_role_users()
    reminder = MaintenanceWindowFactory(owner=users["operator"])
    schedule(reminder, users["operator"])
    at = reminder.planned_start - timedelta(minutes=30)

    def race(fn):
        barrier = threading.Barrier(2)
        counts = []

        def run():
            from django.db import connection

            try:
                barrier.wait(timeout=10)
                counts.append(fn(at))
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        return sorted(counts)

    assert race(services.windows_send_reminders) == [0, 1]
    assert NotificationDelivery.objects.filter(related_id=str(reminder.pk), event="maintenance.reminder").count() == 1

    running = MaintenanceWindowFactory(
        owner=users["operator"], on_call_engineer=users["approver"], planned_start=JAN_TUE_0200 + timedelta(days=2)
    )
    schedule(running, users["operator"])
    approve_phase(
        running,
        ChecklistPhase.BEFORE,
        [users["approver"], users["admin"]],
        now=running.planned_start - timedelta(hours=1),
    )
    services.window_start(actor=users["operator"], window=running, justification="", now=running.planned_start)
    at = running.eta + timedelta(minutes=3)
    assert race(services.windows_mark_overdue) == [0, 1]
    assert NotificationDelivery.objects.filter(related_id=str(running.pk), event="maintenance.overdue").count() == 1
