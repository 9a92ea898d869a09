"""Storage stays bounded however long the checker runs: raw results for OPS_CHECK_RAW_DAYS, then rollups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks import services
from checks.choices import RollupPeriod
from checks.models import CheckResult, CheckRollup
from ersen_ops.core.scheduling import declared
from tests.checks.conftest import T0

pytestmark = pytest.mark.django_db


def add_results(check, start, hours: int, per_hour: int = 12):
    rows = []
    for h in range(hours):
        for i in range(per_hour):
            at = start + timedelta(hours=h, minutes=i * 60 / per_hour)
            rows.append(CheckResult(health_check=check, at=at, due_at=at, passed=i != 0, latency_ms=100 + i,
                                    message="x"))
    CheckResult.objects.bulk_create(rows)


def test_rollups_count_each_hour_and_day(make_check):
    check = make_check()
    add_results(check, T0, hours=2)
    services.results_rollup(now=T0 + timedelta(hours=2), hours=3)
    hours = list(CheckRollup.objects.filter(period=RollupPeriod.HOUR).order_by("start"))
    assert [(h.start, h.total, h.passed, h.failed, h.latency_max_ms) for h in hours] == [
        (T0, 12, 11, 1, 111), (T0 + timedelta(hours=1), 12, 11, 1, 111)]
    day = CheckRollup.objects.get(period=RollupPeriod.DAY)
    assert (day.start, day.total, day.failed, day.latency_sum_ms) == (T0.replace(hour=0), 24, 2, 2 * sum(range(100, 112)))
    services.results_rollup(now=T0 + timedelta(hours=2), hours=3)  # idempotent
    assert CheckRollup.objects.count() == 3


def test_storage_is_bounded_however_long_it_runs(make_check, settings):
    settings.OPS_CHECK_RAW_DAYS = 2
    settings.OPS_CHECK_HOURLY_DAYS = 5
    settings.OPS_CHECK_DAILY_DAYS = 30
    check = make_check()
    sizes = []
    for day in range(60):  # two months of results, pruned daily as the schedule does
        start = T0 + timedelta(days=day)
        add_results(check, start, hours=24, per_hour=2)
        services.results_prune(now=start + timedelta(days=1))
        sizes.append((CheckResult.objects.count(), CheckRollup.objects.filter(period="hour").count(),
                      CheckRollup.objects.filter(period="day").count()))
    raw, hourly, daily = sizes[-1]
    assert raw <= 2 * 24 * 2 + 2
    assert hourly <= 5 * 24 + 24
    assert daily <= 31
    assert sizes[-1] == sizes[-10]  # steady state: nothing grows any more
    # The pruned raw results were rolled up first: every pruned hour is in a rollup.
    assert CheckRollup.objects.filter(period="hour").order_by("start").first().total == 2


def test_the_rollup_and_prune_schedules_are_declared():
    names = {s.name: s for s in declared()}
    assert names["checks.rollup"].func == "checks.tasks.rollup"
    assert names["checks.prune"].func == "checks.tasks.prune"
    assert names["checks.automation_sweep"].minutes == 1
