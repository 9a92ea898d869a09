"""With a real `manage.py qcluster` and a real sshd sandbox host: a schedule's run launched by the worker's own
django-q tick ends as a verified backup, linked to its occurrence; a worker stopped across a due minute leaves one
missed occurrence (without catch-up) and one catch-up run (with catch-up) once it is back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule as QSchedule
from django_q.tasks import async_task

from ersen_ops.core.models import WorkerHeartbeat
from ersen_ops.core.scheduling import PREFIX, apply_schedules
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.models import NotificationDelivery
from runbooks.choices import FINAL_STATUSES, ExecutionStatus
from scheduler.choices import Outcome
from scheduler.models import Occurrence
from tests.processes import Worker, worker_env
from tests.runbooks.factories import runbook_with_steps
from tests.scheduler import factories as f

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(predicate, timeout=120, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_the_workers_own_tick_launches_a_scheduled_backup_that_ends_linked_and_verified(worker, sandbox_host):
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    apply_schedules()  # the cluster's schedules as `migrate` leaves them; the tick is due at its first look
    QSchedule.objects.filter(name=PREFIX + "scheduler.tick").update(next_run=timezone.now() - timedelta(seconds=1))
    backup = runbook_with_steps("backup", [{"task": "backup_database"}])
    # Created 61 s ago: at least one due minute is behind us when the tick first looks (~30 s after the start).
    schedule = f.schedule(
        runbook=backup, target=sandbox_host, cron="* * * * *", since=timezone.now() - timedelta(seconds=61)
    )
    occurrence = wait_for(
        lambda: Occurrence.objects.filter(schedule=schedule).order_by("due_at").first(), what="the first occurrence"
    )
    assert occurrence.outcome == Outcome.RAN, occurrence.reason
    execution = occurrence.execution

    def finished():
        execution.refresh_from_db()
        return execution.status in FINAL_STATUSES

    wait_for(finished, what=f"execution #{execution.pk}")
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.result.get("verified") is True
    assert execution.requested_via == "schedule" and execution.requested_by_name == "system:scheduler"


def test_a_worker_down_across_a_due_minute_records_one_miss_or_one_catch_up_run(
    transactional_db, sandbox, ssh_key, sandbox_host, tmp_path
):
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    QSchedule.objects.filter(name__startswith=PREFIX).delete()  # this test drives the ticks itself
    env = worker_env(key_file=str(sandbox.client_key), OPS_SCHEDULE_GRACE_SECONDS=5)
    smoke = runbook_with_steps("smoke", [{"task": "smoke_test", "params": {"checks": "http://127.0.0.1:9/x 200"}}])
    plain = f.schedule(name="plain", runbook=smoke, target=sandbox_host, cron="* * * * *")
    catching_up = f.schedule(name="catching up", runbook=smoke, target=sandbox_host, cron="* * * * *", catch_up=True)

    def start(log):
        WorkerHeartbeat.objects.all().delete()
        w = Worker(env, tmp_path / log)
        w.wait_ready()
        return w

    def tick_by_the_worker():
        task_id = async_task("scheduler.tasks.tick")
        from django_q.models import Task

        wait_for(lambda: Task.objects.filter(id=task_id).exists(), timeout=60, what="the tick to run in the worker")

    first = start("qcluster-1.log")
    try:
        tick_by_the_worker()
    finally:
        first.stop()
    # The worker is down across the next due minute (and past the 5 s grace).
    now = timezone.now()
    due = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    time.sleep((due - now).total_seconds() + 8)
    assert not Occurrence.objects.filter(due_at=due).exists()
    second = start("qcluster-2.log")
    try:
        tick_by_the_worker()
        missed = Occurrence.objects.get(schedule=plain, due_at=due)
        assert missed.outcome == Outcome.MISSED and missed.due_at == due and missed.execution is None
        assert "the worker was down" in missed.reason
        caught = Occurrence.objects.get(schedule=catching_up, due_at=due)
        assert caught.outcome == Outcome.RAN and caught.catch_up and caught.due_at == due
        assert caught.execution is not None
        alerts = NotificationDelivery.objects.filter(event="scheduler.occurrence.missed")
        assert alerts.count() == 2  # one per schedule for the batch, not per minute
        assert Occurrence.objects.filter(outcome=Outcome.MISSED).count() == 1
    finally:
        second.stop()
