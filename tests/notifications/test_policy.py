"""Pure delivery rules: what an answer means, how long to wait, when to wait inside an attempt."""

from __future__ import annotations

import pytest

from ersen_ops.notifications import policy

DELAYS = [30, 60, 120, 300, 600, 900]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (204, "sent"),
        (301, "fail"),
        (400, "fail"),
        (401, "fail"),
        (404, "fail"),
        (410, "fail"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
    ],
)
def test_http_answers_are_sent_retried_or_failed(status, outcome):
    assert policy.http_outcome(status) == outcome


@pytest.mark.parametrize(
    ("code", "outcome"), [(250, "sent"), (421, "retry"), (451, "retry"), (535, "fail"), (550, "fail")]
)
def test_smtp_4xx_is_transient_and_5xx_permanent(code, outcome):
    assert policy.smtp_outcome(code) == outcome


def test_the_default_retry_schedule_spans_about_thirty_minutes():
    waits = [policy.retry_delay(attempt=n, delays=DELAYS) for n in range(1, 7)]
    assert waits == DELAYS
    assert 28 * 60 <= sum(waits) <= 35 * 60
    assert policy.retry_delay(attempt=7, delays=DELAYS) is None  # 7 attempts, then give up


def test_a_retry_never_comes_sooner_than_the_receiver_asked():
    assert policy.retry_delay(attempt=1, delays=DELAYS, retry_after=95.2) == 96
    assert policy.retry_delay(attempt=1, delays=DELAYS, retry_after=3) == 30


def test_only_short_rate_limit_pauses_are_waited_out_inline():
    assert policy.may_wait_inline(retry_after=0.5, limit=5, waits_so_far=0, max_waits=3)
    assert not policy.may_wait_inline(retry_after=6, limit=5, waits_so_far=0, max_waits=3)
    assert not policy.may_wait_inline(retry_after=0.5, limit=5, waits_so_far=3, max_waits=3)
    assert not policy.may_wait_inline(retry_after=None, limit=5, waits_so_far=0, max_waits=3)


@pytest.mark.parametrize(
    ("given", "severity"),
    [("P1", "critical"), ("p2", "error"), ("P3", "warning"), ("P4", "info"), ("warning", "warning"), ("", "critical")],
)
def test_pager_severity_maps_incident_levels_onto_pagerduty_values(given, severity):
    assert policy.pager_severity(given) == severity
