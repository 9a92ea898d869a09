"""The pure rules of runs on host groups: batches, what a run does next, the matrix cell, retries."""

from __future__ import annotations

import pytest

from ersen_ops.core.errors import PolicyViolation
from runbooks import policy
from runbooks.choices import ExecutionStatus as S

P, Q, R, OK, KO, X = S.PENDING, S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED


def test_hosts_are_split_into_batches_in_run_order():
    assert [policy.batch_number(i, 2) for i in range(5)] == [1, 1, 2, 2, 3]
    assert [policy.batch_number(i, 1) for i in range(3)] == [1, 2, 3]
    assert policy.batch_count(5, 2) == 3 and policy.batch_count(20, 20) == 1 and policy.batch_count(3, 5) == 1


def test_hosts_run_by_position_then_name():
    hosts = [(100, "b"), (10, "z"), (100, "a")]
    ordered = sorted(hosts, key=lambda h: policy.group_order_key(position=h[0], name=h[1]))
    assert ordered == [(10, "z"), (100, "a"), (100, "b")]


def test_a_run_waits_while_its_batch_runs():
    decision = policy.group_run_next(
        statuses=[(1, OK), (1, R), (2, P)], current_batch=1, batches_total=2, max_failures=1
    )
    assert decision.action == "wait"


def test_the_next_batch_starts_when_the_current_one_is_final():
    decision = policy.group_run_next(
        statuses=[(1, OK), (1, OK), (2, P)], current_batch=1, batches_total=2, max_failures=1
    )
    assert (decision.action, decision.batch, decision.failed_hosts) == ("start_batch", 2, 0)


def test_a_run_stops_at_max_failures_and_says_why():
    statuses = [(1, OK), (1, KO), (2, P), (3, P), (3, P)]
    decision = policy.group_run_next(statuses=statuses, current_batch=1, batches_total=3, max_failures=1)
    assert decision.action == "stop"
    assert decision.reason == "not started: 1 of 5 hosts failed, max_failures 1"


def test_below_max_failures_the_run_goes_on_and_ends_failed():
    go_on = policy.group_run_next(statuses=[(1, KO), (2, P)], current_batch=1, batches_total=2, max_failures=2)
    assert go_on.action == "start_batch"
    end = policy.group_run_next(statuses=[(1, KO), (2, OK)], current_batch=2, batches_total=2, max_failures=2)
    assert (end.action, end.succeeded, end.failed_hosts) == ("finish", False, 1)


def test_every_host_succeeded_is_a_success():
    end = policy.group_run_next(statuses=[(1, OK), (1, OK)], current_batch=1, batches_total=1, max_failures=1)
    assert (end.action, end.succeeded, end.reason) == ("finish", True, "all 2 hosts succeeded")


@pytest.mark.parametrize("status", [S.TIMED_OUT, S.LOST, S.CANCELLED])
def test_timed_out_lost_and_cancelled_hosts_count_as_failed(status):
    decision = policy.group_run_next(statuses=[(1, status), (2, P)], current_batch=1, batches_total=2, max_failures=1)
    assert decision.action == "stop" and decision.failed_hosts == 1


def test_the_last_batch_failing_is_a_stop_without_hosts_left():
    decision = policy.group_run_next(statuses=[(1, OK), (2, KO)], current_batch=2, batches_total=2, max_failures=1)
    assert decision.action == "stop" and decision.reason == "1 of 2 hosts failed, max_failures 1"


@pytest.mark.parametrize(
    ("batch_size", "max_failures", "hosts", "message"),
    [
        (0, 1, 3, "batch size must be at least 1"),
        (1, 0, 3, "Max failures must be at least 1"),
        (1, 1, 0, "has no enabled host"),
    ],
)
def test_group_run_settings_are_bounded(batch_size, max_failures, hosts, message):
    with pytest.raises(PolicyViolation, match=message):
        policy.check_group_run_settings(
            batch_size=batch_size, max_failures=max_failures, host_count=hosts, group_name="g"
        )


def test_a_group_is_a_role_or_a_list_never_both_nor_neither():
    policy.check_group_membership(role="web", host_count=0)
    policy.check_group_membership(role="", host_count=2)
    with pytest.raises(PolicyViolation, match="not both"):
        policy.check_group_membership(role="web", host_count=2)
    with pytest.raises(PolicyViolation, match="Give a role tag"):
        policy.check_group_membership(role="", host_count=0)


def test_a_matrix_cell_shows_the_latest_attempt_and_the_attempts():
    assert policy.matrix_cell([], execution_status=P) == ("waiting", 0)
    assert policy.matrix_cell([], execution_status=X) == ("not_run", 0)
    assert policy.matrix_cell([(1, "succeeded"), (1, "failed"), (2, "succeeded")], execution_status=OK) == (
        "succeeded",
        2,
    )
    assert policy.matrix_cell([(1, "succeeded"), (1, "running")], execution_status=R) == ("running", 1)
    assert policy.matrix_cell([(1, "failed"), (2, "succeeded"), (2, "failed")], execution_status=KO) == ("failed", 2)


def test_only_a_failure_is_retried_and_only_while_retries_are_left():
    assert policy.should_retry_step(attempt=1, retries=2, outcome="failed")
    assert policy.should_retry_step(attempt=2, retries=2, outcome="failed")
    assert not policy.should_retry_step(attempt=3, retries=2, outcome="failed")
    assert not policy.should_retry_step(attempt=1, retries=2, outcome="timed_out")
    assert not policy.should_retry_step(attempt=1, retries=2, outcome="cancelled")


def test_retries_are_bounded_and_only_for_idempotent_tasks():
    policy.validate_retries(task="backup_database", retries=5, retry_delay=300)
    with pytest.raises(PolicyViolation, match="between 0 and 5"):
        policy.validate_retries(task="backup_database", retries=6, retry_delay=10)
    with pytest.raises(PolicyViolation, match="between 0 and 300 s"):
        policy.validate_retries(task="backup_database", retries=1, retry_delay=301)


def test_a_plan_snapshots_retries_only_when_a_step_has_them():
    steps = [
        {"task": "smoke_test", "params": {"checks": "https://ersen.xyz/ 200"}, "retries": 2, "retry_delay": 5},
        {"task": "smoke_test", "params": {"checks": "https://ersen.xyz/ 200"}},
    ]
    plan = [s.as_dict() for s in policy.build_plan(steps, host_defaults={}, overrides=None, max_timeout=600)]
    assert (plan[0]["retries"], plan[0]["retry_delay"]) == (2, 5)
    assert "retries" not in plan[1]
