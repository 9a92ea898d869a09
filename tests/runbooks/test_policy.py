"""Pure rules: the plan's parameter layers, the window rule, justification, output cap, lost cutoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ersen_ops.core.errors import PolicyViolation
from runbooks import policy
from runbooks.library import ParameterRefused
from runbooks.output import HEAD_BYTES, TAIL_BYTES, CappedBuffer


def test_plan_layers_task_defaults_then_host_then_step_then_launch():
    steps = [{"task": "restart_service", "params": {"service": "web"}, "timeout_seconds": None}]
    plan = policy.build_plan(
        steps, host_defaults={"compose_dir": "/opt/ersen", "service": "db"}, overrides=None, max_timeout=1000
    )
    assert plan[0].params["compose_dir"] == "/opt/ersen"
    assert plan[0].params["service"] == "web", "the runbook's explicit value wins over the host's default"
    plan = policy.build_plan(steps, host_defaults={}, overrides={"service": "traefik"}, max_timeout=1000)
    assert plan[0].params["service"] == "traefik"
    assert plan[0].timeout == 180


def test_an_override_no_step_declares_is_refused():
    steps = [{"task": "smoke_test", "params": {}, "timeout_seconds": None}]
    with pytest.raises(ParameterRefused, match="No step of this runbook has a parameter 'service'"):
        policy.build_plan(steps, host_defaults={}, overrides={"service": "x"}, max_timeout=1000)


def test_step_timeout_must_stay_below_the_worker_limit():
    with pytest.raises(PolicyViolation, match="between 5 and 1740 s"):
        policy.validate_step(task="smoke_test", params={}, timeout_seconds=5000, max_timeout=1740)


def _rule(**kwargs):
    base = dict(
        phase="postlaunch",
        host_name="prod-1",
        host_component_names=["Database"],
        in_progress_window_titles=[],
        linked_window_status=None,
        linked_window_covers_host=False,
        disruptive=True,
    )
    return policy.window_rule(**{**base, **kwargs})


def test_postlaunch_run_outside_a_window_needs_a_justification():
    verdict = _rule()
    assert verdict.needs_justification
    assert "prod-1 (Database) has no maintenance window in progress" in verdict.reason
    with pytest.raises(PolicyViolation, match="at least 15 characters; got 3"):
        policy.check_justification(verdict, "fix")
    assert policy.check_justification(verdict, "  Traefik serves an expired cert  ") == "Traefik serves an expired cert"


def test_inside_an_in_progress_window_or_prelaunch_no_justification():
    assert not _rule(in_progress_window_titles=["Patch Tuesday"]).needs_justification
    assert not _rule(phase="prelaunch").needs_justification


def test_a_read_only_runbook_prepares_its_scheduled_window_without_justification():
    assert not _rule(
        linked_window_status="scheduled", linked_window_covers_host=True, disruptive=False
    ).needs_justification
    assert _rule(linked_window_status="scheduled", linked_window_covers_host=True, disruptive=True).needs_justification


def test_linked_window_must_cover_the_host_and_be_open():
    with pytest.raises(PolicyViolation, match="does not include any component that runs on prod-1"):
        policy.check_linked_window(window_status="scheduled", window_title="W", covers_host=False, host_name="prod-1")
    with pytest.raises(PolicyViolation, match="is completed"):
        policy.check_linked_window(window_status="completed", window_title="W", covers_host=True, host_name="prod-1")


def test_output_keeps_the_first_64k_and_the_last_256k_and_counts_the_rest():
    buf = CappedBuffer()
    chunk = b"x" * 100_000
    for _ in range(30):
        buf.write(chunk)
    buf.write(b"THE END")
    assert buf.total == 3_000_007
    assert len(buf.head) == HEAD_BYTES and len(buf.tail) == TAIL_BYTES
    assert buf.dropped == 3_000_007 - HEAD_BYTES - TAIL_BYTES
    text = buf.text()
    assert f"[{buf.dropped} bytes dropped" in text and text.endswith("THE END")


def test_small_output_is_kept_whole():
    buf = CappedBuffer()
    buf.write(b"hello\x00world")
    assert buf.dropped == 0 and buf.text() == "hello\ufffdworld"


def test_heartbeats_fit_several_times_in_the_lost_limit():
    assert policy.heartbeat_interval(30) == 5
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert policy.lost_cutoff(now, 30) == now - timedelta(seconds=30)
    assert policy.waiting_message(7) == "waiting for execution #7 on this host"
