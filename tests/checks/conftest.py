"""Checks fixtures: checks made through the services, results fed through the checker's batch writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checks import services
from checks.models import Check
from checks.probes import ProbeOutcome
from tests.factories import ComponentFactory

T0 = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def component(db):
    return ComponentFactory(name="Dashboard")


@pytest.fixture
def make_check(db, component):
    def make(components=None, **fields):
        fields.setdefault("name", f"check {Check.objects.count() + 1}")
        fields.setdefault("url", "https://ersen.xyz/login")
        fields.setdefault("interval_seconds", 30)
        fields.setdefault("timeout_seconds", 5)
        return services.check_save(actor="system:test", check=Check(**fields),
                                   components=components if components is not None else [component])

    return make


def feed(check: Check, passed: bool, *, at: datetime, message: str | None = None, checker: str = "test") -> dict:
    """One probe result through the checker's batch writer, as if `checker` had claimed the check."""
    check.refresh_from_db()
    Check.objects.filter(pk=check.pk).update(leased_by=checker, lease_until=at + timedelta(seconds=10))
    outcome = ProbeOutcome(passed, message or ("HTTP 200 from https://ersen.xyz/login after 120 ms" if passed else
                                               "HTTP 502 from https://ersen.xyz/login after 1.2 s; expected 200"),
                           120 if passed else 1200, 200 if passed else 502)
    result = services.ResultIn(
        check_id=check.pk, type=check.type, due_at=at, started_at=at, finished_at=at, outcome=outcome,
        state=check.state, consecutive_failures=check.consecutive_failures,
        consecutive_successes=check.consecutive_successes, failures_to_down=check.failures_to_down,
        successes_to_up=check.successes_to_up, interval_seconds=check.interval_seconds,
        component_ids=list(check.components.values_list("pk", flat=True)),
    )
    done = services.results_record(results=[result], checker=checker, now=at)
    check.refresh_from_db()
    return done
