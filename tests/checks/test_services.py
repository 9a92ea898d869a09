"""State, automatic status, incident automation and maintenance awareness, through the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks import services
from checks.choices import AutomationState, CheckState
from checks.models import Check, CheckIncident, CheckResult
from ersen_ops.audit.models import AuditEvent
from ersen_ops.status import selectors as status_selectors
from ersen_ops.status.models import Component
from incidents import services as incident_services
from incidents.models import Incident
from maintenance.choices import WindowStatus
from tests.checks.conftest import T0, feed
from tests.maintenance.factories import MaintenanceWindowFactory

pytestmark = pytest.mark.django_db


def public_status(component) -> str:
    return {c.pk: c.status for c in status_selectors.load_components()}[component.pk]


def test_consecutive_failures_make_a_check_down_and_its_component_worse(make_check, component):
    check = make_check(failures_to_down=3, successes_to_up=2)
    feed(check, True, at=T0)
    assert check.state == CheckState.UP
    feed(check, False, at=T0 + timedelta(seconds=30))
    feed(check, False, at=T0 + timedelta(seconds=60))
    assert check.state == CheckState.UP and check.consecutive_failures == 2
    assert public_status(component) == "operational"
    feed(check, False, at=T0 + timedelta(seconds=90))
    assert check.state == CheckState.DOWN
    component.refresh_from_db()
    assert component.automatic_status == "major_outage"
    assert public_status(component) == "major_outage"
    event = AuditEvent.objects.get(action="status.component.automatic_status_changed")
    assert event.actor_name == "system:checks"
    assert event.data["before"] == {"automatic_status": "operational"}
    assert event.data["after"] == {"automatic_status": "major_outage"}
    assert "HTTP 502 from https://ersen.xyz/login after 1.2 s; expected 200" in event.data["reason"]
    state = AuditEvent.objects.get(action="checks.check.state_changed", data__after__state="down")
    assert state.actor_name == "system:checks"
    # Back up after `successes_to_up` passes.
    feed(check, True, at=T0 + timedelta(seconds=120))
    assert check.state == CheckState.DOWN
    feed(check, True, at=T0 + timedelta(seconds=150))
    assert check.state == CheckState.UP
    assert public_status(component) == "operational"
    assert CheckResult.objects.filter(health_check=check).count() == 6


def test_a_check_makes_a_component_worse_never_better(make_check, component):
    """The public status is the worst of manual, incident impact, window and automatic."""
    check = make_check(failures_to_down=1, down_status="degraded_performance")
    Component.objects.filter(pk=component.pk).update(status="partial_outage")  # the manual status
    feed(check, False, at=T0)
    assert public_status(component) == "partial_outage"  # degraded is better than the manual partial outage
    feed(check, True, at=T0 + timedelta(seconds=30))
    Component.objects.filter(pk=component.pk).update(status="operational")
    feed(check, False, at=T0 + timedelta(seconds=60))
    assert public_status(component) == "degraded_performance"


def test_the_worst_down_check_of_a_component_decides(make_check, component):
    slow = make_check(name="slow", failures_to_down=1, down_status="degraded_performance")
    dead = make_check(name="dead", failures_to_down=1, down_status="major_outage")
    feed(slow, False, at=T0)
    feed(dead, False, at=T0)
    assert Component.objects.get(pk=component.pk).automatic_status == "major_outage"
    feed(dead, True, at=T0 + timedelta(seconds=30))
    feed(dead, True, at=T0 + timedelta(seconds=60))
    assert Component.objects.get(pk=component.pk).automatic_status == "degraded_performance"


def test_the_batch_writer_skips_a_check_another_checker_took_over(make_check):
    check = make_check()
    feed(check, True, at=T0)
    Check.objects.filter(pk=check.pk).update(leased_by="other", lease_until=T0 + timedelta(minutes=1))
    result = services.ResultIn(
        check_id=check.pk, type=check.type, due_at=T0, started_at=T0, finished_at=T0, outcome=services.ProbeOutcome(
            True, "HTTP 200"), state=check.state, consecutive_failures=0, consecutive_successes=1, failures_to_down=3,
        successes_to_up=2, interval_seconds=30, component_ids=[])
    services.results_record(results=[result], checker="me", now=T0)
    check.refresh_from_db()
    assert check.leased_by == "other" and check.consecutive_successes == 1  # untouched: not ours any more


# --- incidents ---------------------------------------------------------------------------------------------


def automated(**fields):
    return dict(failures_to_down=2, successes_to_up=1, open_incident=True, incident_level="P2",
                resolve_after_quiet_minutes=10, **fields)


def test_an_outage_opens_one_incident_updates_on_recovery_and_resolves_after_the_quiet_period(make_check, component):
    check = make_check(**automated(incident_first_update_public=True))
    feed(check, False, at=T0)
    assert not Incident.objects.exists()
    feed(check, False, at=T0 + timedelta(seconds=30))
    feed(check, False, at=T0 + timedelta(seconds=60))  # still down: no second incident
    incident = Incident.objects.get()
    assert incident.title == f"{check.name} is down" and incident.level == "P2"
    assert list(incident.component_impacts.values_list("component_id", "impact")) == [(component.pk, "major_outage")]
    first = incident.updates.get()
    assert first.public and "HTTP 502 from https://ersen.xyz/login after 1.2 s; expected 200" in first.body
    assert AuditEvent.objects.filter(action="incident.opened", actor_name="system:checks").exists()

    feed(check, True, at=T0 + timedelta(minutes=2))
    link = CheckIncident.objects.get()
    assert link.state == AutomationState.RECOVERED
    incident.refresh_from_db()
    assert incident.status == "monitoring" and incident.resolved_at is None

    assert services.automation_sweep(now=T0 + timedelta(minutes=5)) == {}
    assert services.automation_sweep(now=T0 + timedelta(minutes=12)) == {"resolved": 1}
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert AuditEvent.objects.get(action="incident.resolved").actor_name == "system:checks"
    link.refresh_from_db()
    assert link.state == AutomationState.RESOLVED

    # The next outage is a new incident.
    feed(check, False, at=T0 + timedelta(minutes=20))
    feed(check, False, at=T0 + timedelta(minutes=21))
    assert Incident.objects.count() == 2


def test_a_first_update_can_stay_internal(make_check):
    check = make_check(**automated(incident_first_update_public=False))
    feed(check, False, at=T0)
    feed(check, False, at=T0 + timedelta(seconds=30))
    update = Incident.objects.get().updates.get()
    assert not update.public


def test_an_operator_who_acknowledges_takes_over(make_check, users):
    check = make_check(**automated())
    feed(check, False, at=T0)
    feed(check, False, at=T0 + timedelta(seconds=30))
    incident = Incident.objects.get()
    incident_services.incident_acknowledge(actor=users["commander"], incident=incident, now=T0 + timedelta(minutes=1))
    feed(check, True, at=T0 + timedelta(minutes=2))  # recovery: the automation lets go instead of posting
    link = CheckIncident.objects.get()
    assert link.state == AutomationState.TAKEN_OVER
    incident.refresh_from_db()
    assert incident.status == "investigating" and incident.updates.count() == 1
    services.automation_sweep(now=T0 + timedelta(hours=1))
    incident.refresh_from_db()
    assert incident.resolved_at is None  # the operator resolves it, not the checks
    assert AuditEvent.objects.filter(action="checks.automation.taken_over").exists()


def test_an_operator_update_takes_over_too(make_check, users):
    check = make_check(**automated())
    feed(check, False, at=T0)
    feed(check, False, at=T0 + timedelta(seconds=30))
    incident = Incident.objects.get()
    incident_services.incident_post_update(actor=users["operator"], incident=incident, status="identified",
                                           body="A bad deploy; rolling back.", now=T0 + timedelta(minutes=1))
    assert services.automation_sweep(now=T0 + timedelta(minutes=2)) == {"taken over": 1}


# --- maintenance -------------------------------------------------------------------------------------------


def test_failures_during_a_window_in_progress_open_no_incident_and_count_as_maintenance(make_check, component):
    MaintenanceWindowFactory(status=WindowStatus.IN_PROGRESS, actual_start=T0 - timedelta(minutes=5),
                             planned_start=T0 - timedelta(minutes=5), planned_end=T0 + timedelta(hours=1),
                             components=[component])
    check = make_check(**automated())
    for i in range(4):
        feed(check, False, at=T0 + timedelta(seconds=30 * i))
    assert check.state == CheckState.DOWN
    assert not Incident.objects.exists()
    assert set(CheckResult.objects.values_list("in_maintenance", flat=True)) == {True}
    assert public_status(component) == "under_maintenance"  # not the check's major outage


def test_a_check_still_down_when_the_window_ends_opens_its_incident_then(make_check, component):
    window = MaintenanceWindowFactory(status=WindowStatus.IN_PROGRESS, actual_start=T0, planned_start=T0,
                                      planned_end=T0 + timedelta(hours=1), components=[component])
    check = make_check(**automated())
    feed(check, False, at=T0)
    feed(check, False, at=T0 + timedelta(seconds=30))
    assert services.automation_sweep(now=T0 + timedelta(minutes=1)) == {}
    window.status = WindowStatus.COMPLETED
    window.actual_end = T0 + timedelta(minutes=2)
    window.save()
    assert public_status(component) == "major_outage"
    assert services.automation_sweep(now=T0 + timedelta(minutes=3)) == {"opened": 1}
    assert services.automation_sweep(now=T0 + timedelta(minutes=4)) == {}  # one incident per outage


def test_saving_a_component_in_the_admin_keeps_the_automatic_status(make_check, component):
    from ersen_ops.status import services as status_services

    stale = Component.objects.get(pk=component.pk)  # loaded before the check went down
    feed(make_check(failures_to_down=1), False, at=T0)
    stale.description = "The operators' dashboard"
    status_services.component_save(actor="system:test", component=stale,
                                   before=status_services.component_state(Component.objects.get(pk=component.pk)))
    assert Component.objects.get(pk=component.pk).automatic_status == "major_outage"


# --- heartbeats -------------------------------------------------------------------------------------------


def heartbeat_result(check, at):
    check.refresh_from_db()
    Check.objects.filter(pk=check.pk).update(leased_by="test", lease_until=at + timedelta(seconds=10))
    return services.ResultIn(
        check_id=check.pk, type=check.type, due_at=at, started_at=at, finished_at=at,
        outcome=services.ProbeOutcome(True, ""), state=check.state, consecutive_failures=check.consecutive_failures,
        consecutive_successes=check.consecutive_successes, failures_to_down=check.failures_to_down,
        successes_to_up=check.successes_to_up, interval_seconds=check.interval_seconds, component_ids=[])


def test_a_heartbeat_on_time_passes_and_a_missed_one_fails_in_words(make_check, client):
    check = make_check(type="heartbeat", url="", heartbeat_period_seconds=3600, heartbeat_grace_seconds=300,
                       failures_to_down=1, successes_to_up=1)
    path = services.heartbeat_new_secret(actor="system:test", check=check)
    assert client.post(path).status_code == 200
    check.refresh_from_db()
    assert check.state == CheckState.UP and check.last_message == "heartbeat received"
    pinged = check.last_ping_at
    services.results_record(results=[heartbeat_result(check, pinged + timedelta(minutes=64))], checker="test")
    check.refresh_from_db()
    assert check.state == CheckState.UP  # within period + grace
    services.results_record(results=[heartbeat_result(check, pinged + timedelta(minutes=66))], checker="test")
    check.refresh_from_db()
    assert check.state == CheckState.DOWN
    assert check.last_message == "no heartbeat for 1 h 6 min; expected every 1 h + 5 min grace"


def test_a_wrong_heartbeat_secret_records_nothing(make_check, client):
    check = make_check(type="heartbeat", url="", heartbeat_period_seconds=3600)
    path = services.heartbeat_new_secret(actor="system:test", check=check)
    assert client.get(path.replace(path.split("/")[-2], "guess")).status_code == 404
    assert client.get("/checks/heartbeat/nope/guess/").status_code == 404
    assert not CheckResult.objects.exists()
    check.refresh_from_db()
    assert check.last_ping_at is None


def test_a_shorter_interval_runs_the_check_at_once(make_check):
    from django.utils import timezone

    check = make_check(interval_seconds=3600)
    Check.objects.filter(pk=check.pk).update(next_due_at=timezone.now() + timedelta(minutes=50))
    check.refresh_from_db()
    before = services.check_state(check)
    check.interval_seconds = 30
    services.check_save(actor="system:test", check=check, before=before)
    check.refresh_from_db()
    assert check.next_due_at <= timezone.now()


def test_a_result_of_a_check_deleted_meanwhile_does_not_sink_the_batch(make_check):
    gone, kept = make_check(name="gone"), make_check(name="kept")
    results = []
    for check in (gone, kept):
        Check.objects.filter(pk=check.pk).update(leased_by="test")
        results.append(services.ResultIn(
            check_id=check.pk, type="http", due_at=T0, started_at=T0, finished_at=T0,
            outcome=services.ProbeOutcome(True, "HTTP 200"), state="up", consecutive_failures=0,
            consecutive_successes=1, failures_to_down=3, successes_to_up=2, interval_seconds=30, component_ids=[]))
    services.check_delete(actor="system:test", check=gone)
    assert services.results_record(results=results, checker="test", now=T0)["results"] == 1
    assert list(CheckResult.objects.values_list("health_check__name", flat=True)) == ["kept"]


def test_a_check_going_down_is_recorded_in_the_uptime_history(make_check, component, django_capture_on_commit_callbacks):
    from ersen_ops.status.models import StatusInterval

    check = make_check(failures_to_down=1)
    with django_capture_on_commit_callbacks(execute=True):
        feed(check, False, at=T0)
    current = StatusInterval.objects.get(component=component, ended_at__isnull=True)
    assert current.status == "major_outage" and not current.in_maintenance
