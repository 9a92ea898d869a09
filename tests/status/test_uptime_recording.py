"""Uptime history: every change of a component's public status becomes exactly one status interval,
whatever moved it (manual status, an incident's impact, a window in progress); rollups per day.

The interval sync runs after the commit (as in production), so the tests run the on-commit callbacks
(`django_capture_on_commit_callbacks(execute=True)`) with the clock stopped at the moment of the change.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.status.models import DailyUptime, StatusInterval, StatusVersion
from ersen_ops.status.services import component_save, component_state, status_version_bump
from ersen_ops.status.uptime import services as uptime
from incidents import services as incident_services
from maintenance import services as window_services
from maintenance.choices import ChecklistPhase, ItemKey
from tests.factories import ComponentFactory
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(at):` — run the block at `at` and its after-commit work too (at the same moment)."""

    @contextmanager
    def run(at: datetime):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def intervals(component):
    return [
        (i.status, i.in_maintenance, i.started_at, i.ended_at)
        for i in StatusInterval.objects.filter(component=component).order_by("started_at", "id")
    ]


def set_manual(component, status, *, actor="system:test"):
    before = component_state(component)
    component.status = status
    component_save(actor=actor, component=component, before=before)


T0 = datetime(2027, 1, 11, 12, 0, tzinfo=UTC)


def test_a_manual_status_change_opens_one_interval_and_closes_the_previous(committed):
    with committed(T0):
        api = ComponentFactory(name="API")
    assert intervals(api) == [("operational", False, T0, None)]
    t1 = T0 + timedelta(minutes=10)
    with committed(t1):
        set_manual(api, "partial_outage")
    assert intervals(api) == [("operational", False, T0, t1), ("partial_outage", False, t1, None)]
    # Saving again without a change of the public status records nothing new.
    with committed(t1 + timedelta(minutes=1)):
        api.description = "Public REST API"
        component_save(actor="system:test", component=api, before=component_state(api))
    assert len(intervals(api)) == 2


def test_sync_is_idempotent_and_moves_the_version_only_when_it_recorded(committed):
    with committed(T0):
        ComponentFactory(name="API")
    version = StatusVersion.objects.get().version
    assert uptime.status_intervals_sync(now=T0 + timedelta(minutes=1)) == {"opened": 0, "closed": 0}
    assert StatusVersion.objects.get().version == version
    assert StatusInterval.objects.count() == 1


def test_several_changes_in_one_transaction_sync_once_after_commit(django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False) as callbacks:
        api = ComponentFactory(name="API")
        set_manual(api, "degraded_performance")
        set_manual(api, "major_outage")
    syncs = [c for c in callbacks if c.__name__ == "sync_after_commit"]
    assert len(syncs) >= 3
    with time_machine.travel(T0, tick=False), CaptureQueriesContext(connection) as first:
        syncs[0]()
    with CaptureQueriesContext(connection) as rest:
        for callback in syncs[1:]:
            callback()
    assert len(first.captured_queries) > 0 and len(rest.captured_queries) == 0  # the first covered them all
    assert intervals(api) == [("major_outage", False, T0, None)]  # the intermediate states never committed


def test_an_incident_opened_and_resolved_records_its_impact(committed, users):
    with committed(T0):
        login = ComponentFactory(name="Login")
    opened = T0 + timedelta(hours=1)
    with committed(opened):
        incident = incident_services.incident_open(
            actor=users["commander"],
            title="Login errors",
            level="P2",
            components={login.pk: "major_outage"},
            message="We are investigating failed sign-ins.",
            now=opened,
        )
    resolved = opened + timedelta(minutes=45)
    with committed(resolved):
        incident_services.incident_resolve(
            actor=users["commander"], incident=incident, body="Sign-ins work again.", now=resolved
        )
    assert intervals(login) == [
        ("operational", False, T0, opened),
        ("major_outage", False, opened, resolved),
        ("operational", False, resolved, None),
    ]


def test_a_window_in_progress_counts_as_maintenance_until_it_completes(committed, users):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    with committed(JAN_TUE_0200 - timedelta(days=4)):
        database = ComponentFactory(name="Database")
        window = MaintenanceWindowFactory(
            title="Database upgrade", owner=users["operator"], on_call_engineer=users["approver"], components=[database]
        )
    approvers = [users["approver"], users["admin"]]
    with committed(JAN_TUE_0200 - timedelta(days=3)):
        window_services.window_schedule(actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(days=3))
    approve_phase(window, ChecklistPhase.BEFORE, approvers, now=JAN_TUE_0200 - timedelta(hours=1))
    with committed(JAN_TUE_0200):
        window_services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    approve_phase(
        window,
        ChecklistPhase.DURING,
        approvers,
        now=JAN_TUE_0200 + timedelta(minutes=40),
        skip_keys=[ItemKey.UPDATE_ETA],
    )
    done = JAN_TUE_0200 + timedelta(minutes=50)
    with committed(done):
        window_services.window_complete(actor=users["operator"], window=window, now=done)
    assert intervals(database) == [
        ("operational", False, JAN_TUE_0200 - timedelta(days=4), JAN_TUE_0200),
        ("under_maintenance", True, JAN_TUE_0200, done),
        ("operational", False, done, None),
    ]


def test_a_writer_that_bypasses_signals_and_bumps_the_version_is_recorded(committed):
    """Bulk writers (and status services above the status app, like checks' automatic status) call
    `status_version_bump()`; that alone records the change."""
    with committed(T0):
        api = ComponentFactory(name="API")
    t1 = T0 + timedelta(minutes=5)
    with committed(t1):
        type(api).objects.filter(pk=api.pk).update(status="degraded_performance")  # no signal
        status_version_bump()
    assert intervals(api)[-1] == ("degraded_performance", False, t1, None)


def test_hiding_a_component_closes_its_interval(committed):
    with committed(T0):
        api = ComponentFactory(name="API")
    t1 = T0 + timedelta(hours=2)
    with committed(t1):
        before = component_state(api)
        api.public = False
        component_save(actor="system:test", component=api, before=before)
    assert intervals(api) == [("operational", False, T0, t1)]


def test_the_sweeper_records_a_change_whose_after_commit_sync_was_lost(committed):
    with committed(T0):
        api = ComponentFactory(name="API")
    t1 = T0 + timedelta(minutes=3)
    with time_machine.travel(t1, tick=False):  # the process died before its on-commit sync ran
        set_manual(api, "major_outage")
    assert intervals(api)[-1][0] == "operational"
    swept = T0 + timedelta(minutes=4)
    result = uptime.uptime_sweep(now=swept)
    assert result["opened"] == 1 and result["closed"] == 1
    assert intervals(api)[-1] == ("major_outage", False, swept, None)


# --- rollups ------------------------------------------------------------------------------------------


def interval(component, status, start, end=None, in_maintenance=False):
    return StatusInterval.objects.create(
        component=component, status=status, started_at=start, ended_at=end, in_maintenance=in_maintenance
    )


def test_rollup_stores_seconds_per_status_and_the_worst_one(settings):
    settings.OPS_STATUS_PAGE_TIME_ZONE = "Etc/UTC"
    api = ComponentFactory(name="API")
    day = datetime(2027, 1, 11, tzinfo=UTC)
    interval(api, "operational", day, day + timedelta(hours=20))
    interval(api, "partial_outage", day + timedelta(hours=20), day + timedelta(hours=22))
    interval(api, "under_maintenance", day + timedelta(hours=22), day + timedelta(hours=23), in_maintenance=True)
    interval(api, "operational", day + timedelta(hours=23))
    written = uptime.uptime_rollup(now=day + timedelta(days=1, minutes=5))
    assert written == 1
    row = DailyUptime.objects.get(component=api, day=date(2027, 1, 11))
    assert (row.operational_seconds, row.partial_seconds, row.maintenance_seconds, row.unknown_seconds) == (
        21 * 3600,
        2 * 3600,
        3600,
        0,
    )
    assert row.worst_status == "partial_outage"
    # The day is final now: the next sweep leaves it alone.
    assert uptime.days_to_roll_up(now=day + timedelta(days=1, minutes=6)) == []


def test_rollup_of_a_day_computed_before_it_ended_is_redone(settings):
    settings.OPS_STATUS_PAGE_TIME_ZONE = "Etc/UTC"
    api = ComponentFactory(name="API")
    day = datetime(2027, 1, 11, tzinfo=UTC)
    interval(api, "operational", day)
    uptime.uptime_rollup(now=day + timedelta(hours=12), days=[date(2027, 1, 11)])
    assert uptime.days_to_roll_up(now=day + timedelta(days=1)) == [date(2027, 1, 11)]
    uptime.uptime_rollup(now=day + timedelta(days=1))
    assert DailyUptime.objects.get().operational_seconds == 86400


def test_storage_stays_bounded(settings):
    settings.OPS_STATUS_PAGE_TIME_ZONE = "Etc/UTC"
    settings.OPS_UPTIME_INTERVAL_DAYS = 35
    settings.OPS_UPTIME_KEEP_DAYS = 100
    api = ComponentFactory(name="API")
    now = datetime(2027, 6, 1, tzinfo=UTC)
    old = interval(api, "operational", now - timedelta(days=200), now - timedelta(days=40))
    recent = interval(api, "major_outage", now - timedelta(days=40), now - timedelta(days=30))
    current = interval(api, "operational", now - timedelta(days=30))
    uptime.uptime_rollup(now=now, days=[date(2027, 1, 1), date(2027, 5, 1)])
    pruned = uptime.uptime_prune(now=now)
    assert pruned == {"intervals": 1, "rollups": 1}
    assert set(StatusInterval.objects.values_list("pk", flat=True)) == {recent.pk, current.pk}
    assert list(DailyUptime.objects.values_list("day", flat=True)) == [date(2027, 5, 1)]
    assert old.pk not in set(StatusInterval.objects.values_list("pk", flat=True))


def test_the_sweeper_is_declared_every_minute():
    from ersen_ops.core.scheduling import declared

    spec = next(s for s in declared() if s.name == "status.uptime_sweep")
    assert spec.minutes == 1 and spec.func == "ersen_ops.status.tasks.uptime_sweep"


def test_a_health_checks_automatic_status_is_recorded(committed):
    """The checks app sets a component's automatic status through the status service; that is a public change."""
    from ersen_ops.status.services import component_set_automatic_status

    with committed(T0):
        api = ComponentFactory(name="API")
    down = T0 + timedelta(minutes=7)
    with committed(down):
        component_set_automatic_status(component_ids=[api.pk], status="major_outage", reason="HTTP 502", now=down)
    up = down + timedelta(minutes=3)
    with committed(up):
        component_set_automatic_status(component_ids=[api.pk], status="operational", reason="HTTP 200", now=up)
    assert intervals(api) == [
        ("operational", False, T0, down),
        ("major_outage", False, down, up),
        ("operational", False, up, None),
    ]
