"""The tick through the service: the protocol (freezes, windows, read-only runs any time), skip dates, the pause,
missed and catch-up due times, refusals of the runbooks service, racing ticks, audit events and alerts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import PolicyViolation
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.models import NotificationDelivery
from maintenance.choices import WindowStatus
from runbooks.choices import LaunchChannel
from runbooks.models import RunbookExecution
from scheduler import services
from scheduler.choices import Event, Outcome
from scheduler.models import Occurrence
from tests.maintenance.factories import FreezePeriodFactory, MaintenanceWindowFactory
from tests.scheduler import factories as f

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)  # Tue 02:00 PST


@pytest.fixture(autouse=True)
def postlaunch(db):
    site_settings_set_phase(actor="system:test", phase="postlaunch")


@pytest.fixture
def host(db):
    return f.host()


def occurrences(schedule):
    return list(Occurrence.objects.filter(schedule=schedule).order_by("due_at"))


def test_a_due_read_only_run_is_launched_and_linked(host):
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="5 2 * * *", since=T0)
    assert services.tick(now=T0 + timedelta(minutes=5, seconds=20))["ran"] == 1
    (occ,) = occurrences(s)
    assert occ.outcome == Outcome.RAN and occ.due_at == T0 + timedelta(minutes=5) and not occ.catch_up
    execution = occ.execution
    assert execution.requested_via == LaunchChannel.SCHEDULE and execution.requested_by_name == "system:scheduler"
    assert execution.outside_window and "read-only" in execution.justification
    event = AuditEvent.objects.get(action=Event.OCCURRENCE_RECORDED)
    assert event.actor_name == "system:scheduler" and event.data["outcome"] == "ran"
    assert event.data["execution"] == execution.pk
    assert services.tick(now=T0 + timedelta(minutes=6))["ran"] == 0  # decided once


def test_a_read_only_run_runs_in_a_freeze_a_disruptive_one_is_skipped(host):
    FreezePeriodFactory(name="Holiday freeze", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    read_only = f.schedule(runbook=f.smoke_runbook(), target=host, cron="5 2 * * *", since=T0)
    changes = f.schedule(runbook=f.restart_runbook(), target=host, cron="5 2 * * *", since=T0)
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    assert occurrences(read_only)[0].outcome == Outcome.RAN
    (skipped,) = occurrences(changes)
    assert skipped.outcome == Outcome.SKIPPED and skipped.execution is None
    assert skipped.reason.startswith("freeze “Holiday freeze” until Wed 2027-01-13 02:00 PST")
    assert RunbookExecution.objects.count() == 1


def test_post_launch_a_disruptive_run_needs_an_in_progress_window_of_the_hosts_components(host):
    s = f.schedule(runbook=f.restart_runbook(), target=host, cron="*/5 * * * *", since=T0)
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    assert occurrences(s)[0].reason == "post-launch: no in-progress window covers prod-1 (Database)"
    MaintenanceWindowFactory(
        title="DB upgrade",
        status=WindowStatus.IN_PROGRESS,
        components=list(host.components.all()),
        planned_start=T0,
        planned_end=T0 + timedelta(hours=1),
    )
    services.tick(now=T0 + timedelta(minutes=10, seconds=10))
    second = occurrences(s)[1]
    assert second.outcome == Outcome.RAN and not second.execution.outside_window


def test_pre_launch_a_disruptive_run_runs_without_a_window(host):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    s = f.schedule(runbook=f.restart_runbook(), target=host, cron="*/5 * * * *", since=T0)
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    assert occurrences(s)[0].outcome == Outcome.RAN


def test_a_skip_date_in_the_team_zone_skips_that_day(host):
    # 02:05 PST on Tue 2027-01-12 is 10:05 UTC the same day; 23:30 PST on the 11th is already the 12th in UTC.
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="5 2 * * *", since=T0, skip_dates=["2027-01-12"])
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    (occ,) = occurrences(s)
    assert occ.outcome == Outcome.SKIPPED and occ.reason == "skip date 2027-01-12"


def test_skip_dates_are_validated():
    with pytest.raises(PolicyViolation, match="'2027-13-01' is not a date"):
        from scheduler import policy

        policy.validate_skip_dates(["2027-13-01"])


def test_while_paused_due_times_are_skipped_naming_who_and_are_not_caught_up(users, host):
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="*/5 * * * *", since=T0, catch_up=True)
    services.scheduler_pause(actor=users["operator"], reason="Migrating the VPS", now=T0)
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    services.tick(now=T0 + timedelta(minutes=30))  # the worker was also down a while: still skipped, not missed
    assert {o.outcome for o in occurrences(s)} == {Outcome.SKIPPED}
    assert occurrences(s)[0].reason == "all schedules paused by operator: Migrating the VPS"
    services.scheduler_resume(actor=users["operator"], reason="VPS migrated", now=T0 + timedelta(minutes=31))
    services.tick(now=T0 + timedelta(minutes=35, seconds=10))
    assert [o.outcome for o in occurrences(s)][-1] == Outcome.RAN
    assert Occurrence.objects.filter(schedule=s, catch_up=True).count() == 0
    actions = list(
        AuditEvent.objects.filter(action__in=[Event.PAUSED, Event.RESUMED])
        .order_by("id")
        .values_list("action", "actor_name")
    )
    assert actions == [(Event.PAUSED, "operator"), (Event.RESUMED, "operator")]


def test_pausing_needs_the_permission_and_a_reason(users):
    from ersen_ops.core.errors import PermissionRefused

    with pytest.raises(PermissionRefused, match="scheduler.pause_schedules"):
        services.scheduler_pause(actor=users["viewer"], reason="because I can")
    with pytest.raises(PolicyViolation, match="at least 5 characters"):
        services.scheduler_pause(actor=users["operator"], reason="x")


def test_late_due_times_are_missed_and_alert_once(host):
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="*/5 * * * *", since=T0)
    services.tick(now=T0 + timedelta(minutes=34))  # 6 due times, all older than the grace
    assert [o.outcome for o in occurrences(s)] == [Outcome.MISSED] * 6
    assert RunbookExecution.objects.count() == 0
    alerts = NotificationDelivery.objects.filter(event="scheduler.occurrence.missed")
    assert alerts.count() == 1 and "6 run(s) missed" in alerts.get().subject


def test_with_catch_up_the_latest_missed_runs_once(host):
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="*/5 * * * *", since=T0, catch_up=True)
    services.tick(now=T0 + timedelta(minutes=34))
    outcomes = [(o.outcome, o.catch_up) for o in occurrences(s)]
    assert outcomes == [(Outcome.MISSED, False)] * 5 + [(Outcome.RAN, True)]
    assert RunbookExecution.objects.count() == 1


def test_a_launch_the_runbooks_service_refuses_is_skipped_with_its_words(host):
    runbook = f.smoke_runbook()
    s = f.schedule(runbook=runbook, target=host, cron="*/5 * * * *", since=T0)
    runbook.enabled = False
    runbook.save()
    assert services.tick(now=T0 + timedelta(minutes=5, seconds=5))["errors"] == 0
    (occ,) = occurrences(s)
    assert occ.outcome == Outcome.SKIPPED and occ.reason == "launch refused: Runbook “Smoke” is disabled."
    assert NotificationDelivery.objects.filter(event="scheduler.occurrence.refused").count() == 1


def test_parameters_are_validated_like_a_launch(host):
    with pytest.raises(Exception, match="No step of this runbook has a parameter 'nope'"):
        f.schedule(runbook=f.smoke_runbook(), target=host, since=T0, overrides={"nope": 1})


def test_creating_and_editing_a_schedule_is_audited_with_before_and_after(users, host):
    s = f.schedule(runbook=f.smoke_runbook(), target=host, cron="0 3 * * *", since=T0, actor=users["operator"])
    s.cron = "0 4 * * *"
    services.schedule_save(actor=users["operator"], schedule=s, now=T0)
    created, changed = AuditEvent.objects.filter(action__startswith="scheduler.schedule").order_by("id")
    assert created.action == Event.SCHEDULE_CREATED and created.data["after"]["cron"] == "0 3 * * *"
    assert changed.data["before"]["cron"] == "0 3 * * *" and changed.data["after"]["cron"] == "0 4 * * *"
    assert s.created_by_name == "operator"


def test_two_racing_ticks_record_one_occurrence_and_one_run(transactional_postgres):
    """Row locks need PostgreSQL: under CI=true the fixture fails the test without it."""
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    s = f.schedule(runbook=f.smoke_runbook(), target=f.host(), cron="*/5 * * * *", since=T0)
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            services.tick(now=T0 + timedelta(minutes=5, seconds=5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Occurrence.objects.filter(schedule=s).count() == 1
    assert RunbookExecution.objects.count() == 1
    assert AuditEvent.objects.filter(action=Event.OCCURRENCE_RECORDED).count() == 1


def group_of(*hosts):
    from runbooks.models import HostGroup
    from runbooks.services import host_group_save

    return host_group_save(actor="system:test", group=HostGroup(name="web fleet", slug="web-fleet"), hosts=list(hosts))


def test_a_group_target_launches_one_group_run_in_batches_linked_to_the_occurrence(host):
    web = f.host("web-1", component="Website")
    group = group_of(host, web)
    s = f.schedule(
        runbook=f.smoke_runbook(),
        target=None,
        host_group=group,
        cron="5 2 * * *",
        since=T0,
        batch_size=2,
        max_failures=1,
        name="smoke the fleet",
    )
    assert s.target_name == "group web fleet"
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    (occ,) = occurrences(s)
    assert occ.outcome == Outcome.RAN and occ.execution is None
    run = occ.group_run
    assert run.batch_size == 2 and run.requested_via == LaunchChannel.SCHEDULE
    assert RunbookExecution.objects.filter(group_run=run).count() == 2
    assert AuditEvent.objects.get(action=Event.OCCURRENCE_RECORDED).data["group_run"] == run.pk


def test_a_disruptive_group_run_needs_a_window_on_every_host(host):
    web = f.host("web-1", component="Website")
    group = group_of(host, web)
    MaintenanceWindowFactory(
        title="DB upgrade",
        status=WindowStatus.IN_PROGRESS,
        components=list(host.components.all()),
        planned_start=T0,
        planned_end=T0 + timedelta(hours=1),
    )
    s = f.schedule(runbook=f.restart_runbook(), target=None, host_group=group, cron="5 2 * * *", since=T0)
    services.tick(now=T0 + timedelta(minutes=5, seconds=10))
    (occ,) = occurrences(s)
    assert occ.outcome == Outcome.SKIPPED and occ.reason == "post-launch: no in-progress window covers web-1 (Website)"


def test_a_schedule_has_a_host_or_a_group_not_both(host):
    group = group_of(host)
    with pytest.raises(PolicyViolation, match="exactly one of the two"):
        f.schedule(runbook=f.smoke_runbook(), target=host, host_group=group, since=T0)
