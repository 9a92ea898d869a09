"""The scheduler in the admin: a "Scheduler" section, the schedule list and a schedule's page at bounded query counts,
the next 10 occurrences marked when a skip date or a freeze would skip them, saving through the service (audited,
errors as form errors), the occurrences list, and "Pause all schedules" (GET changes nothing, POST needs a reason
and the permission)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from runbooks.models import Runbook
from scheduler import services
from scheduler.choices import Event, Outcome
from scheduler.models import Occurrence, Schedule, SchedulerSwitch
from tests.maintenance.factories import FreezePeriodFactory
from tests.runbooks.factories import ExecutionFactory
from tests.scheduler import factories as f

pytestmark = pytest.mark.django_db


def queries(client, url) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content


def with_history(schedule, n: int) -> None:
    start = schedule.occurrences.count()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(start, start + n):
        execution = ExecutionFactory(runbook=schedule.runbook, host=schedule.host)
        Occurrence.objects.create(
            schedule=schedule,
            due_at=base + timedelta(minutes=i),
            outcome=Outcome.RAN,
            execution=execution,
            recorded_at=base,
        )


def test_the_admin_index_has_a_scheduler_section(client, users):
    client.force_login(users["operator"])
    page = client.get(reverse("admin:index"))
    assert b"Scheduler" in page.content and b"Schedules" in page.content and b"Pause all schedules" in page.content


def test_the_schedule_list_costs_the_same_queries_for_3_and_30_schedules(client, users):
    client.force_login(users["operator"])
    runbook = f.smoke_runbook()
    for i in range(3):
        s = f.schedule(name=f"s{i}", runbook=runbook, target=f.host(f"h{i}"), cron="0 3 * * *")
        with_history(s, 2)
    url = reverse("admin:scheduler_schedule_changelist")
    queries(client, url)  # warm the caches (content types, the session)
    few, _ = queries(client, url)
    for i in range(3, 30):
        s = f.schedule(name=f"s{i}", runbook=runbook, target=f.host(f"h{i}"), cron="0 3 * * *")
        with_history(s, 2)
    many, content = queries(client, url)
    assert many == few, (few, many)
    assert b"PST" in content and b"Ran" in content


def test_a_schedule_page_marks_skip_dates_and_freezes_and_links_its_history(client, users):
    client.force_login(users["operator"])
    now = timezone.now()
    tomorrow = (now + timedelta(days=1)).astimezone(f.LA).date()
    s = f.schedule(runbook=f.restart_runbook(), target=f.host(), cron="0 3 * * *", skip_dates=[tomorrow.isoformat()])
    FreezePeriodFactory(name="Launch freeze", start=now + timedelta(days=3), end=now + timedelta(days=5))
    with_history(s, 3)
    url = reverse("admin:scheduler_schedule_change", args=[s.pk])
    queries(client, url)  # warm the caches (content types, the session)
    few, content = queries(client, url)
    assert f"skip date {tomorrow.isoformat()}".encode() in content
    assert "freeze “Launch freeze”".encode() in content
    assert (
        reverse("admin:runbooks_runbookexecution_change", args=[s.occurrences.first().execution_id]).encode() in content
    )
    with_history(s, 40)
    many, _ = queries(client, url)
    assert many == few, (few, many)


def test_adding_a_schedule_in_the_admin_is_audited_and_a_bad_cron_is_a_form_error(client, users):
    client.force_login(users["operator"])
    runbook, host = f.smoke_runbook(), f.host()
    url = reverse("admin:scheduler_schedule_add")
    data = {
        "name": "Nightly smoke",
        "runbook": runbook.pk,
        "host": host.pk,
        "overrides": "{}",
        "cron": "0 25 * * *",
        "enabled": "on",
        "batch_size": 1,
        "max_failures": 1,
        "skip_dates_text": "2026-12-24\n",
    }
    page = client.post(url, data)
    assert page.status_code == 200 and "hour: 25 is outside 0–23".encode() in page.content
    assert not Schedule.objects.exists()
    page = client.post(url, {**data, "cron": "0 3 * * *"})
    assert page.status_code == 302, page.content[:3000]
    s = Schedule.objects.get()
    assert s.skip_dates == ["2026-12-24"] and s.created_by_name == "operator"
    event = AuditEvent.objects.get(action=Event.SCHEDULE_CREATED)
    assert event.actor_name == "operator" and event.data["after"]["cron"] == "0 3 * * *"


def test_a_viewer_cannot_add_schedules(client, users):
    client.force_login(users["viewer"])
    assert client.get(reverse("admin:scheduler_schedule_add")).status_code == 403
    assert client.get(reverse("admin:scheduler_schedule_changelist")).status_code == 200


def test_the_occurrences_list_filters_by_outcome(client, users):
    client.force_login(users["viewer"])
    s = f.schedule(runbook=f.smoke_runbook(), target=f.host())
    with_history(s, 3)
    url = reverse("admin:scheduler_occurrence_changelist")
    assert client.get(url, {"outcome__exact": "ran"}).status_code == 200
    assert client.get(url, {"outcome__exact": "missed"}).status_code == 200


def test_pause_all_schedules_get_changes_nothing_post_needs_a_reason_and_is_audited(client, users):
    switch = services.switch_get()
    url = reverse("admin:scheduler_schedulerswitch_workflow", args=[switch.pk, "pause"])
    client.force_login(users["viewer"])
    assert client.get(url).status_code == 403
    client.force_login(users["operator"])
    assert client.get(reverse("admin:scheduler_schedulerswitch_changelist")).status_code == 302
    assert client.get(url).status_code == 200
    assert not SchedulerSwitch.objects.get().paused
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "Migrating the VPS tonight"}).status_code == 302
    switch.refresh_from_db()
    assert switch.paused and switch.paused_by_name == "operator"
    assert AuditEvent.objects.get(action=Event.PAUSED).data["after"]["reason"] == "Migrating the VPS tonight"
    resume = reverse("admin:scheduler_schedulerswitch_workflow", args=[switch.pk, "resume"])
    assert client.post(resume, {"reason": "VPS migrated"}).status_code == 302
    assert not SchedulerSwitch.objects.get().paused


def test_deleting_a_schedule_with_history_is_refused_without_one_it_is_audited(users):
    from ersen_ops.core.errors import DomainError

    s = f.schedule(runbook=f.smoke_runbook(), target=f.host())
    with_history(s, 1)
    with pytest.raises(DomainError, match="disable it instead"):
        services.schedule_delete(actor=users["operator"], schedule=s)
    empty = f.schedule(name="empty", runbook=Runbook.objects.get(slug="smoke"), target=f.host("h2"))
    services.schedule_delete(actor=users["operator"], schedule=empty)
    assert AuditEvent.objects.get(action=Event.SCHEDULE_DELETED).data["before"]["name"] == "empty"


def test_a_group_schedule_page_links_the_group_run_of_its_occurrence(client, users):
    from runbooks.models import HostGroup
    from runbooks.services import host_group_save

    group = host_group_save(
        actor="system:test", group=HostGroup(name="web fleet", slug="web-fleet"), hosts=[f.host(), f.host("web-1")]
    )
    start = timezone.now() - timedelta(minutes=2)
    s = f.schedule(runbook=f.smoke_runbook(), target=None, host_group=group, cron="* * * * *", since=start)
    services.tick(now=start.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=5))
    occurrence = s.occurrences.get()
    assert occurrence.group_run_id
    client.force_login(users["operator"])
    page = client.get(reverse("admin:scheduler_schedule_change", args=[s.pk]))
    assert page.status_code == 200
    assert reverse("admin:runbooks_grouprun_change", args=[occurrence.group_run_id]).encode() in page.content
    listing = client.get(reverse("admin:scheduler_schedule_changelist"))
    assert b"group web fleet" in listing.content
