"""One first-come-first-served order of waiting runs on a host (runbooks.selectors.executions_waiting), used by
the claim, the host's next start, the "waiting behind" message and the control room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runbooks import selectors, services
from runbooks.choices import ExecutionStatus
from tests.runbooks.factories import ExecutionFactory, HostFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def queue():
    """On one host: two runs requested at the same instant (the id breaks the tie), one earlier, one later."""
    host = HostFactory(name="db-1")
    tie_a = ExecutionFactory(host=host, requested_at=T0)
    tie_b = ExecutionFactory(host=host, requested_at=T0)
    earliest = ExecutionFactory(host=host, requested_at=T0 - timedelta(minutes=1))
    latest = ExecutionFactory(host=host, requested_at=T0 + timedelta(minutes=1))
    ExecutionFactory(requested_at=T0 - timedelta(hours=1))  # another host's: never in this queue
    return host, [earliest, tie_a, tie_b, latest]


def test_waiting_runs_start_by_request_time_then_id(queue):
    host, order = queue
    assert list(selectors.executions_waiting(host_id=host.pk)) == order
    assert list(selectors.executions_waiting(host_id=host.pk, ahead_of=order[2])) == order[:2]
    assert list(selectors.executions_waiting(host_id=host.pk, ahead_of=order[0])) == []


def test_the_claim_the_next_start_and_the_message_agree_on_who_is_first(queue, django_capture_on_commit_callbacks):
    host, (earliest, tie_a, tie_b, latest) = queue
    claim = services.execution_claim(execution_id=tie_b.pk, now=T0)
    assert (claim.reason, claim.waiting_for) == ("behind", earliest.pk)
    assert selectors.execution_waiting_message(tie_b) == f"waiting behind execution #{earliest.pk} (queued earlier) on this host"
    assert services.host_start_next(host_id=host.pk, now=T0) == earliest.pk
    assert services.execution_claim(execution_id=earliest.pk, now=T0).reason == "claimed"
    assert selectors.execution_running_on(host_id=host.pk) == earliest.pk
    assert services.execution_claim(execution_id=tie_a.pk, now=T0).reason == "host_busy"
    earliest.refresh_from_db()
    assert earliest.status == ExecutionStatus.RUNNING
