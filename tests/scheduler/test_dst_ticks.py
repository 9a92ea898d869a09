"""The tick itself across both DST nights (time-machine moves the clock a minute per tick, `now` is not passed in):
a 02:30 daily job runs once on the spring-forward night (03:00 PDT), a 01:30 job once on the fall-back night (the
first 01:30), and an hourly job once per real hour through both nights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from ersen_ops.core.services import site_settings_set_phase
from scheduler import services
from scheduler.choices import Outcome
from scheduler.models import Occurrence
from tests.scheduler import factories as f

pytestmark = pytest.mark.django_db


def tick_every_minute(start: datetime, end: datetime) -> None:
    with time_machine.travel(start, tick=False) as clock:
        at = start
        while at <= end:
            clock.move_to(at)
            services.tick()
            at += timedelta(minutes=1)


def local(schedule) -> list[str]:
    return [
        o.due_at.astimezone(f.LA).strftime("%m-%d %H:%M %Z")
        for o in Occurrence.objects.filter(schedule=schedule, outcome=Outcome.RAN).order_by("due_at")
    ]


@pytest.fixture
def host(db):
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    return f.host()


def test_spring_forward_night_runs_the_0230_job_once_and_the_hourly_job_once_per_hour(host):
    start = datetime(2027, 3, 14, 9, 50, tzinfo=UTC)  # 01:50 PST
    daily = f.schedule(name="daily", runbook=f.smoke_runbook(), target=host, cron="30 2 * * *", since=start)
    hourly = f.schedule(name="hourly", runbook=f.smoke_runbook(), target=host, cron="0 * * * *", since=start)
    tick_every_minute(start + timedelta(minutes=1), datetime(2027, 3, 14, 11, 5, tzinfo=UTC))  # to 04:05 PDT
    assert local(daily) == ["03-14 03:00 PDT"]
    assert local(hourly) == ["03-14 03:00 PDT", "03-14 04:00 PDT"]
    assert not Occurrence.objects.exclude(outcome=Outcome.RAN).exists()  # nothing missed or skipped


def test_fall_back_night_runs_the_0130_job_once_and_the_hourly_job_in_both_repeated_hours(host):
    start = datetime(2027, 11, 7, 7, 50, tzinfo=UTC)  # 00:50 PDT
    daily = f.schedule(name="daily", runbook=f.smoke_runbook(), target=host, cron="30 1 * * *", since=start)
    hourly = f.schedule(name="hourly", runbook=f.smoke_runbook(), target=host, cron="0 * * * *", since=start)
    tick_every_minute(start + timedelta(minutes=1), datetime(2027, 11, 7, 10, 5, tzinfo=UTC))  # to 02:05 PST
    assert local(daily) == ["11-07 01:30 PDT"]
    assert local(hourly) == ["11-07 01:00 PDT", "11-07 01:00 PST", "11-07 02:00 PST"]
    assert not Occurrence.objects.exclude(outcome=Outcome.RAN).exists()
