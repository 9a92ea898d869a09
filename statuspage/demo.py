"""Demo data of the public page: a believable 90-day uptime history for the demo components.

A few incidents' worth of degraded / partial / major stretches and the monthly Tuesday maintenance
(02:00–03:00 Pacific) per component, ending with each component's current public status (seeded
after the domain apps — statuspage comes after them — so that is the status their demo incidents and
windows give); then the days are rolled up, so `make run` shows the bars at once. Runs once: skipped when any history older
than two days exists (running seed_demo again changes nothing).
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.utils import timezone

from ersen_ops.status.models import Component, StatusInterval
from ersen_ops.status.services import status_version_bump_only
from ersen_ops.status.uptime import policy
from ersen_ops.status.uptime.services import current_public_statuses, page_zone, uptime_rollup

DAYS = 90
# (status, shortest, longest minutes): what an episode looks like.
EPISODES = [
    (policy.DEGRADED, 20, 180),
    (policy.DEGRADED, 10, 60),
    (policy.PARTIAL, 15, 90),
    (policy.MAJOR, 5, 45),
]


def _episodes(rng: random.Random, start: datetime, end: datetime, zone) -> list[tuple[datetime, datetime, str, bool]]:
    """(from, to, status, in_maintenance), sorted and not overlapping."""
    result = []
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():  # the second Tuesday of each month, 02:00–03:00 Pacific
        if day.weekday() == 1 and 8 <= day.day <= 14:
            began = datetime.combine(day, time(2, 0), tzinfo=zone)
            result.append((began, began + timedelta(hours=1), policy.UNDER_MAINTENANCE, True))
        day += timedelta(days=1)
    for _ in range(rng.randint(1, 4)):
        status, low, high = rng.choice(EPISODES)
        began = start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds()) - 86400))
        result.append((began, began + timedelta(minutes=rng.randint(low, high)), status, False))
    result.sort()
    kept, last_end = [], start
    for began, ended, status, maint in result:
        if began >= last_end and ended < end:
            kept.append((began, ended, status, maint))
            last_end = ended
    return kept


def seed(stdout) -> None:
    now = timezone.now()
    if StatusInterval.objects.filter(started_at__lt=now - timedelta(days=2)).exists():
        return
    zone = page_zone()
    start = datetime.combine((now - timedelta(days=DAYS)).astimezone(zone).date(), time.min, tzinfo=zone)
    current = current_public_statuses()
    rows = []
    for component in Component.objects.filter(pk__in=current.keys()).order_by("pk"):
        StatusInterval.objects.filter(component=component).delete()  # only today's, from this very seed
        rng = random.Random(f"ersen-demo-{component.name}")
        cursor = start
        for began, ended, status, maint in _episodes(rng, start, now - timedelta(hours=1), zone):
            rows.append(
                StatusInterval(component=component, status=policy.OPERATIONAL, started_at=cursor, ended_at=began)
            )
            rows.append(
                StatusInterval(
                    component=component, status=status, in_maintenance=maint, started_at=began, ended_at=ended
                )
            )
            cursor = ended
        status, in_maintenance = current[component.pk]
        if (status, in_maintenance) != (policy.OPERATIONAL, False):
            rows.append(StatusInterval(component=component, status=policy.OPERATIONAL, started_at=cursor, ended_at=now))
            cursor = now
        rows.append(
            StatusInterval(component=component, status=status, in_maintenance=in_maintenance, started_at=cursor)
        )
    StatusInterval.objects.bulk_create(rows)
    status_version_bump_only()  # cached pages re-render, with today's bars running to at least `now`
    written = uptime_rollup(now=now)
    stdout.write(f"Uptime history: {len(rows)} status intervals over {DAYS} days, {written} daily rollups.\n")
