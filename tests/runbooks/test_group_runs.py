"""Runs on host groups against three real sshd sandbox hosts: batches in position order, stopping after
`max_failures` failed hosts, cancelling the rest, per-step retries recorded as attempts, and the audit trail.

Most tests run each queued execution in-process (the runner is the worker's code; advancing happens after each
commit exactly as in a worker); one runs the whole group through a real qcluster.
"""

from __future__ import annotations

import time

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from runbooks import runner, services
from runbooks.choices import ExecutionStatus, GroupRunAction, GroupRunStatus, StepStatus
from runbooks.models import GroupRun, HostGroup, RunbookExecution
from tests.runbooks.factories import runbook_with_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAIL_DUMP = "echo 'pg_dump: connection refused' >&2; exit 3"
# Fails the first call only (the shim's state folder remembers it), so a retry succeeds.
FAIL_ONCE = (
    'if [ ! -f "$STATE/failed_once" ]; then touch "$STATE/failed_once"; '
    "echo 'pg_dump: transient error' >&2; exit 3; fi"
)


@pytest.fixture(autouse=True)
def _prelaunch(transactional_db):
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="prelaunch")


@pytest.fixture
def group(users, fleet):
    return services.host_group_save(
        actor=users["admin"], group=HostGroup(name="Fleet", slug="fleet", role="fleet"), hosts=[]
    )


def backup_runbook(**step):
    return runbook_with_steps("fleet-backup", [{"task": "backup_database", **step}])


def group_actions(run) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=str(run.pk), target_type__model="grouprun")
        .order_by("id")
        .values_list("action", flat=True)
    )


def drive(run: GroupRun, *, limit: int = 20) -> GroupRun:
    """Run every queued execution of the group run in-process, as workers would, until the run ends."""
    for _ in range(limit):
        run.refresh_from_db()
        if run.status not in (GroupRunStatus.QUEUED, GroupRunStatus.RUNNING):
            return run
        queued = list(run.executions.filter(status=ExecutionStatus.QUEUED).order_by("pk").values_list("pk", flat=True))
        assert queued, f"group run #{run.pk} is {run.status} with nothing queued: it stalled"
        for pk in queued:
            runner.run_execution(pk)
    raise AssertionError("the group run did not end")


def by_host(run) -> dict[str, RunbookExecution]:
    return {e.host.name: e for e in run.executions.select_related("host")}


def test_a_group_run_runs_every_host_in_position_order_batch_by_batch(users, group, fleet):
    run = services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group, batch_size=2)
    order = [h.name for h, _ in fleet]
    assert order == ["fleet-b", "fleet-c", "fleet-a"]
    assert [h["name"] for h in run.hosts_snapshot] == order
    assert (run.status, run.batches_total, run.current_batch) == (GroupRunStatus.QUEUED, 2, 1)
    executions = by_host(run)
    # Every host has its execution from the start: the first batch queued, the rest waiting for their batch.
    assert {n: (e.batch, e.status) for n, e in executions.items()} == {
        "fleet-b": (1, ExecutionStatus.QUEUED),
        "fleet-c": (1, ExecutionStatus.QUEUED),
        "fleet-a": (2, ExecutionStatus.PENDING),
    }
    run = drive(run)
    assert run.status == GroupRunStatus.SUCCEEDED, run.outcome
    assert run.outcome == "All 3 hosts succeeded."
    executions = by_host(run)
    assert all(e.status == ExecutionStatus.SUCCEEDED for e in executions.values())
    first_batch_done = max(executions[n].finished_at for n in ("fleet-b", "fleet-c"))
    assert executions["fleet-a"].started_at >= first_batch_done
    for host, box in fleet:
        assert any(c[:4] == ["docker", "exec", "ersen-db-1", "pg_dump"] for c in box.shim_calls()), host.name
    assert group_actions(run) == [
        GroupRunAction.REQUESTED,
        GroupRunAction.BATCH_STARTED,
        GroupRunAction.STARTED,
        GroupRunAction.BATCH_STARTED,
        GroupRunAction.FINISHED,
    ]
    batch2 = AuditEvent.objects.filter(target_id=str(run.pk), action=GroupRunAction.BATCH_STARTED).order_by("id")[1]
    assert batch2.data["hosts"] == ["fleet-a"] and batch2.data["before"] == {"current_batch": 1}


def test_a_failed_host_stops_the_rest_with_max_failures_1(users, group, fleet):
    (first, first_box), _, _ = fleet
    first_box.set_behaviour("docker", FAIL_DUMP)
    run = services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group)
    run = drive(run)
    assert run.status == GroupRunStatus.FAILED
    executions = by_host(run)
    assert executions["fleet-b"].status == ExecutionStatus.FAILED
    for name in ("fleet-c", "fleet-a"):
        assert executions[name].status == ExecutionStatus.CANCELLED
        assert executions[name].started_at is None
        assert executions[name].error == "not started: 1 of 3 hosts failed, max_failures 1"
    assert run.outcome == "Stopped after batch 1 of 3: not started: 1 of 3 hosts failed, max_failures 1."
    assert group_actions(run)[-2:] == [GroupRunAction.STOPPED, GroupRunAction.FINISHED]
    stopped = AuditEvent.objects.get(target_id=str(run.pk), action=GroupRunAction.STOPPED)
    assert stopped.data["before"] == {"status": "running"} and stopped.data["after"] == {"status": "failed"}
    assert sorted(stopped.data["not_started"]) == sorted([executions["fleet-c"].pk, executions["fleet-a"].pk])
    cancelled = AuditEvent.objects.get(target_id=str(executions["fleet-a"].pk), action="runbooks.execution.cancelled")
    assert cancelled.data["before"] == {"status": "pending"}


def test_with_max_failures_2_the_run_goes_on_after_one_failed_host(users, group, fleet):
    _, (middle, middle_box), _ = fleet
    middle_box.set_behaviour("docker", FAIL_DUMP)
    run = services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group, max_failures=2)
    run = drive(run)
    executions = by_host(run)
    assert [executions[n].status for n in ("fleet-b", "fleet-c", "fleet-a")] == [
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.SUCCEEDED,
    ]
    # Every batch ran, but a host failed: the run is not green.
    assert run.status == GroupRunStatus.FAILED
    assert "1 of 3 hosts failed (fewer than max_failures 2)" in run.outcome
    assert GroupRunAction.STOPPED not in group_actions(run)


def test_cancelling_a_group_run_cancels_the_hosts_not_started(users, group, fleet):
    run = services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group)
    run = services.group_run_cancel(actor=users["operator"], group_run=run, reason="wrong runbook")
    assert run.status == GroupRunStatus.CANCELLED
    assert all(e.status == ExecutionStatus.CANCELLED for e in run.executions.all())
    assert "1 queued cancelled" in run.outcome and "2 hosts not started" in run.outcome
    event = AuditEvent.objects.get(target_id=str(run.pk), action=GroupRunAction.CANCELLED)
    assert event.data["reason"] == "wrong runbook" and event.actor_name == "operator"
    assert event.data["before"] == {"status": "queued"}
    with pytest.raises(DomainError, match="only a queued or running group run"):
        services.group_run_cancel(actor=users["operator"], group_run=run, reason="again")
    # Nothing runs any more: the queued task finds its execution cancelled.
    for pk in run.executions.values_list("pk", flat=True):
        assert runner.run_execution(pk) == "not_queued"


def test_cancel_needs_the_cancel_permission(users, group, fleet):
    run = services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group)
    with pytest.raises(DomainError):
        services.group_run_cancel(actor=users["viewer"], group_run=run, reason="")
    run.refresh_from_db()
    assert run.status == GroupRunStatus.QUEUED


def test_a_refused_host_refuses_the_whole_launch_and_is_named(users, group, fleet):
    from runbooks.models import Host

    Host.objects.filter(name="fleet-c").update(host_key="", host_key_fingerprint="")
    with pytest.raises(DomainError) as refused:
        services.group_run_launch(actor=users["operator"], runbook=backup_runbook(), host_group=group)
    assert "1 of 3 hosts" in str(refused.value) and "fleet-c" in str(refused.value)
    assert not GroupRun.objects.exists() and not RunbookExecution.objects.exists()


def test_post_launch_outside_a_window_every_host_needs_the_justification(users, group, fleet):
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="postlaunch")
    runbook = runbook_with_steps("fleet-restart", [{"task": "restart_service", "params": {"site_url": ""}}])
    with pytest.raises(DomainError) as refused:
        services.group_run_launch(actor=users["operator"], runbook=runbook, host_group=group)
    assert "3 of 3 hosts" in str(refused.value)
    assert not GroupRun.objects.exists()
    run = services.group_run_launch(
        actor=users["operator"],
        runbook=runbook,
        host_group=group,
        justification="customers cannot log in, traefik is stuck",
        batch_size=3,
    )
    assert all(e.outside_window for e in run.executions.all())
    requested = AuditEvent.objects.get(target_id=str(run.pk), action=GroupRunAction.REQUESTED)
    assert sorted(requested.data["outside_window"]) == ["fleet-a", "fleet-b", "fleet-c"]


def test_a_retried_step_is_recorded_as_attempts(users, group, fleet):
    (host, box), _, _ = fleet
    box.set_behaviour("docker", FAIL_ONCE)
    runbook = backup_runbook(retries=2, retry_delay=1)
    assert runbook.steps.get().retries == 2
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=host)
    assert execution.plan[0]["retries"] == 2 and execution.plan[0]["retry_delay"] == 1
    runner.run_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    steps = list(execution.steps.order_by("order"))
    attempts = {s.attempt for s in steps}
    assert attempts == {1, 2}
    failed = [s for s in steps if s.status == StepStatus.FAILED]
    assert len(failed) == 1 and failed[0].attempt == 1 and "pg_dump" in failed[0].command
    retry = next(s for s in steps if s.detail.get("action") == "retry")
    assert retry.attempt == 1 and "Attempt 1 of 3 failed" in retry.label and "retrying in 1 s" in retry.label
    dumps = [s for s in steps if "pg_dump" in s.command and s.kind == "command"]
    assert [(d.attempt, d.status) for d in dumps] == [(1, StepStatus.FAILED), (2, StepStatus.SUCCEEDED)]
    started = AuditEvent.objects.filter(target_id=str(execution.pk), action="runbooks.command.started")
    assert {e.data["attempt"] for e in started} == {1, 2}


def test_retries_run_out_and_the_step_fails_after_every_attempt(users, group, fleet):
    (host, box), _, _ = fleet
    box.set_behaviour("docker", FAIL_DUMP)
    execution = services.execution_launch(
        actor=users["operator"], runbook=backup_runbook(retries=1, retry_delay=0), host=host
    )
    runner.run_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert "(after 2 attempts)" in execution.error
    assert sorted(set(execution.steps.values_list("attempt", flat=True))) == [1, 2]


def test_retries_are_refused_for_a_task_not_marked_idempotent(monkeypatch):
    from dataclasses import replace

    from runbooks import library

    monkeypatch.setitem(
        library.REGISTRY, "backup_database", replace(library.REGISTRY["backup_database"], idempotent=False)
    )
    with pytest.raises(DomainError, match=r"Back up the database \(backup_database\) is not marked idempotent"):
        runbook_with_steps("not-idempotent", [{"task": "backup_database", "retries": 1}])


def test_a_cancel_during_the_retry_delay_is_honoured(users, group, fleet):
    import threading

    (host, box), _, _ = fleet
    box.set_behaviour("docker", FAIL_DUMP)
    execution = services.execution_launch(
        actor=users["operator"], runbook=backup_runbook(retries=3, retry_delay=60), host=host
    )
    thread = threading.Thread(target=runner.run_execution, args=(execution.pk,))
    thread.start()
    deadline = time.monotonic() + 30
    while not execution.steps.filter(detail__action="retry").exists():
        assert time.monotonic() < deadline, "the first attempt did not fail"
        time.sleep(0.2)
    started = time.monotonic()
    services.execution_cancel(actor=users["operator"], execution=execution, reason="enough")
    thread.join(timeout=30)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert "while waiting to retry after attempt 1" in execution.error
    assert time.monotonic() - started < 10  # not the 60 s delay
    assert set(execution.steps.values_list("attempt", flat=True)) == {1}


def test_a_group_run_on_three_hosts_through_a_real_worker(users, group, fleet, worker):
    _, (middle, middle_box), _ = fleet
    middle_box.set_behaviour("docker", FAIL_DUMP)
    run = services.group_run_launch(
        actor=users["operator"], runbook=backup_runbook(), host_group=group, batch_size=2, max_failures=1
    )
    deadline = time.monotonic() + 90
    while True:
        run.refresh_from_db()
        if run.status not in (GroupRunStatus.QUEUED, GroupRunStatus.RUNNING):
            break
        assert time.monotonic() < deadline, f"group run still {run.status}: {worker.log.read_text()[-2000:]}"
        time.sleep(0.3)
    executions = by_host(run)
    # Batch 1 (b, c) ran together; c failed, so a (batch 2) never started.
    assert executions["fleet-b"].status == ExecutionStatus.SUCCEEDED
    assert executions["fleet-c"].status == ExecutionStatus.FAILED
    assert executions["fleet-a"].status == ExecutionStatus.CANCELLED and executions["fleet-a"].started_at is None
    assert run.status == GroupRunStatus.FAILED and run.started_at is not None
    assert executions["fleet-b"].worker and executions["fleet-b"].task_id
    assert group_actions(run) == [
        GroupRunAction.REQUESTED,
        GroupRunAction.BATCH_STARTED,
        GroupRunAction.STARTED,
        GroupRunAction.STOPPED,
        GroupRunAction.FINISHED,
    ]
