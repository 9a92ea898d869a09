"""Backup freshness is one mechanism — the checks' heartbeat: each verified backup with a verified off-host copy
(announced by runbooks' finish service through `runbooks.backup_events`) beats the "Nightly backup" check; silence for
OPS_BACKUP_MAX_AGE_HOURS opens a P2 incident once, and the next fresh backup resolves it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine

from checks import services
from checks.choices import AutomationState, CheckState, HeartbeatSource
from checks.models import Check, CheckIncident
from ersen_ops.audit.models import AuditEvent
from incidents.models import Incident
from runbooks import services as runbook_services
from runbooks.choices import ExecutionStatus
from runbooks.models import Backup
from tests.checks.conftest import T0
from tests.checks.test_services import heartbeat_result
from tests.runbooks.factories import ExecutionFactory, HostFactory

pytestmark = pytest.mark.django_db

HOURS = 26


@pytest.fixture
def freshness(settings, db):
    settings.OPS_BACKUP_MAX_AGE_HOURS = HOURS
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        return services.check_save(actor="system:test", check=Check(
            name="Nightly backup", type="heartbeat", heartbeat_source=HeartbeatSource.VERIFIED_BACKUP,
            heartbeat_period_seconds=settings.OPS_BACKUP_MAX_AGE_HOURS * 3600, heartbeat_grace_seconds=0,
            interval_seconds=300, timeout_seconds=5, failures_to_down=1, successes_to_up=1, open_incident=True,
            incident_level="P2", resolve_after_quiet_minutes=0,
        ), components=[])


@pytest.fixture
def hosts(db):
    return HostFactory(name="prod-1"), HostFactory(name="offsite")


def land(hosts, at, *, with_copy=True, django_capture_on_commit_callbacks):
    """A nightly-backup run finishing through runbooks' own finish service (the worker's), at `at`."""
    source, destination = hosts
    path = f"/var/backups/ersen/backup_{at:%Y%m%d_%H%M%S}.sql"
    sha = hashlib.sha256(path.encode()).hexdigest()
    result = {"path": path, "size": 100, "sha256": sha, "verified": True, "taken_at": at.isoformat()}
    if with_copy:
        result["offhost_copy"] = {
            "destination": destination.name, "destination_id": destination.pk, "path": f"/srv/offsite/{path[19:]}",
            "sha256": sha, "verified": True, "source_path": path,
        }
    execution = ExecutionFactory(
        host=source, status=ExecutionStatus.RUNNING, claim_token="t", started_at=at - timedelta(minutes=2),
        host_snapshot={"name": source.name}, plan=[{"task": "backup_database"}, {"task": "copy_backup_offhost"}],
    )
    with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert runbook_services.execution_finish(
            execution_id=execution.pk, token="t", status=ExecutionStatus.SUCCEEDED, result=result, now=at
        )
    return execution


def evaluate(check, at):
    """The checker's turn on the heartbeat check at `at`."""
    with time_machine.travel(at, tick=False):
        services.results_record(results=[heartbeat_result(check, at)], checker="test", now=at)
    check.refresh_from_db()
    return check


def test_a_stale_backup_opens_one_p2_incident_and_a_fresh_one_resolves_it(
    freshness, hosts, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = land(hosts, T0, django_capture_on_commit_callbacks=capture)
    check = Check.objects.get(pk=freshness.pk)
    assert check.state == CheckState.UP and check.last_ping_at == T0
    assert check.last_message.startswith("verified backup /var/backups/ersen/backup_") and "offsite:" in check.last_message
    beat = AuditEvent.objects.get(action="checks.heartbeat.backup_landed")
    assert beat.data["execution"] == first.pk and beat.data["host"] == "prod-1"
    assert Backup.objects.get(execution=first).copies.count() == 1

    assert evaluate(check, T0 + timedelta(hours=HOURS) - timedelta(minutes=5)).state == CheckState.UP
    # A verified backup without an off-host copy is not fresh enough: no beat.
    land(hosts, T0 + timedelta(hours=HOURS, minutes=1), with_copy=False, django_capture_on_commit_callbacks=capture)
    assert AuditEvent.objects.filter(action="checks.heartbeat.backup_landed").count() == 1
    check = evaluate(check, T0 + timedelta(hours=HOURS, minutes=5))
    assert check.state == CheckState.DOWN
    assert check.last_message == "no heartbeat for 26 h 5 min; expected every 26 h + 0 s grace"
    incident = Incident.objects.get()
    assert incident.level == "P2" and incident.title == "Nightly backup is down"
    assert AuditEvent.objects.filter(action="checks.automation.incident_opened").count() == 1
    # Opened once: more silent evaluations change nothing.
    evaluate(check, T0 + timedelta(hours=HOURS + 2))
    evaluate(check, T0 + timedelta(hours=HOURS + 6))
    assert Incident.objects.count() == 1 and CheckIncident.objects.count() == 1

    fresh = land(hosts, T0 + timedelta(hours=HOURS + 7), django_capture_on_commit_callbacks=capture)
    check.refresh_from_db(), fresh.refresh_from_db()
    assert check.state == CheckState.UP and check.last_ping_at == fresh.finished_at
    incident.refresh_from_db()
    assert incident.resolved_at == T0 + timedelta(hours=HOURS + 7)
    assert CheckIncident.objects.get().state == AutomationState.RESOLVED
    assert AuditEvent.objects.filter(action="checks.heartbeat.backup_landed").count() == 2
    assert Incident.objects.count() == 1


def test_a_url_heartbeat_check_is_not_beaten_by_backups(make_check, hosts, django_capture_on_commit_callbacks):
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        other = make_check(name="hourly export", type="heartbeat", url="", heartbeat_period_seconds=3600)
    land(hosts, T0, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    other.refresh_from_db()
    assert other.last_ping_at is None and not AuditEvent.objects.filter(action="checks.heartbeat.backup_landed").exists()
