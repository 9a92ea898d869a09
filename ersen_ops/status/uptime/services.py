"""Recording status intervals, rolling up days, keeping the history bounded.

Recording happens in ONE place: `status_intervals_sync()`. `status_version_bump()` — which runs in
the same transaction as every change the public status shows (manual status, an incident's
impact, a window starting or ending, a check's automatic status: see `signals.py`) — schedules it
once per transaction, after the commit. It then reads the public status exactly as the page does
(`selectors.load_components`), compares it with each component's open interval and closes / opens
rows in one transaction under an advisory lock: a change becomes exactly one interval however many
processes sync at once, and running it again changes nothing. A sweeper (`tasks.uptime_sweep`,
every minute) calls the same function as a safety net for a process that died between its commit
and the sync.

No audit event: intervals are bookkeeping of the public status; the change that moved it was
audited by its own service.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from ersen_ops.status.models import Component, DailyUptime, StatusInterval
from ersen_ops.status.uptime import policy

log = logging.getLogger(__name__)

LOCK_KEY = 0x5E75_0001  # pg_advisory_xact_lock key of interval recording and rollups


def page_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.OPS_STATUS_PAGE_TIME_ZONE)


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def current_public_statuses() -> dict[int, tuple[str, bool]]:
    """component pk → (public status, a window in progress on it) for every public leaf component."""
    from ersen_ops.status import selectors

    return {c.pk: (c.status, c.in_maintenance) for c in selectors.load_components() if not c.group}


@transaction.atomic
def status_intervals_sync(*, now: datetime | None = None) -> dict[str, int]:
    """Make the open intervals match the public status now: close what changed, open what is new.

    Components that stopped being public (hidden, deleted) get their interval closed. Returns
    counts {"opened": n, "closed": n}. If anything changed, the public status version moves (in
    this transaction) so cached documents showing today's bars are rendered anew.
    """
    now = now or timezone.now()
    _lock()
    wanted = current_public_statuses()
    open_rows = {row.component_id: row for row in StatusInterval.objects.filter(ended_at__isnull=True)}
    to_close: list[StatusInterval] = []
    to_open: list[StatusInterval] = []
    for pk, (status, in_maintenance) in wanted.items():
        row = open_rows.pop(pk, None)
        if row is not None and (row.status, row.in_maintenance) == (status, in_maintenance):
            continue
        if row is not None:
            row.ended_at = max(now, row.started_at)
            to_close.append(row)
        to_open.append(StatusInterval(component_id=pk, status=status, in_maintenance=in_maintenance, started_at=now))
    for row in open_rows.values():  # no longer public
        row.ended_at = max(now, row.started_at)
        to_close.append(row)
    if to_close:
        StatusInterval.objects.bulk_update(to_close, ["ended_at"])
    if to_open:
        StatusInterval.objects.bulk_create(to_open)
    if to_close or to_open:
        from ersen_ops.status.services import status_version_bump_only

        status_version_bump_only()
    return {"opened": len(to_open), "closed": len(to_close)}


def sync_after_commit() -> None:
    """What `schedule_sync` runs after the commit. A failure is logged, never raised: the change itself
    is committed, and the sweeper records it on its next run."""
    try:
        status_intervals_sync()
    except Exception:  # noqa: BLE001 — a commit must not fail after the fact; the sweeper catches up
        log.exception("uptime: recording status intervals failed; the sweeper will retry")


def schedule_sync() -> None:
    """Run `sync_after_commit` after the current transaction commits (immediately outside one).

    One sync per commit however many changes it made: every change queues a callback numbered by a
    counter on the connection; after the commit the first callback syncs (it sees the final state)
    and records the newest number it covered, so the others return at once."""
    conn = transaction.get_connection()
    conn._uptime_scheduled = number = getattr(conn, "_uptime_scheduled", 0) + 1

    def callback() -> None:
        if getattr(conn, "_uptime_synced", 0) >= number:
            return
        conn._uptime_synced = conn._uptime_scheduled
        sync_after_commit()

    callback.__name__ = "sync_after_commit"
    transaction.on_commit(callback)


# --- rollups ---------------------------------------------------------------------------------------


def _intervals_between(component_ids, start: datetime, end: datetime):
    """{component pk: [(status, in_maintenance, started_at, ended_at)]} of intervals overlapping [start, end)."""
    # `started_at <= end`: a status that began at the very end (now) is already today's current status.
    rows = StatusInterval.objects.filter(started_at__lte=end).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
    if component_ids is not None:
        rows = rows.filter(component_id__in=component_ids)
    result: dict[int, list] = defaultdict(list)
    for cid, status, in_maintenance, began, ended in rows.order_by("started_at", "id").values_list(
        "component_id", "status", "in_maintenance", "started_at", "ended_at"
    ):
        result[cid].append((status, in_maintenance, began, ended))
    return result


def compute_days(days: list[date], *, now: datetime, component_ids=None) -> dict[int, dict[date, policy.DayUptime]]:
    """Day figures straight from the intervals (one query): what the rollup stores, and what the page
    shows for today. Components with no interval overlapping the days are absent."""
    if not days:
        return {}
    zone = page_zone()
    start, _ = policy.day_bounds(min(days), zone)
    _, end = policy.day_bounds(max(days), zone)
    by_component = _intervals_between(component_ids, start, min(end, now))
    return {
        cid: {day: policy.rollup_day(intervals, day=day, zone=zone, now=now) for day in days}
        for cid, intervals in by_component.items()
    }


@transaction.atomic
def uptime_rollup(*, now: datetime | None = None, days: list[date] | None = None) -> int:
    """Store DailyUptime rows for `days` (default: every finished day not yet final, at most
    OPS_UPTIME_KEEP_DAYS back, up to yesterday). Idempotent: re-running rewrites the same figures.
    Returns the number of rows written."""
    now = now or timezone.now()
    _lock()
    if days is None:
        days = days_to_roll_up(now=now)
    if not days:
        return 0
    figures = compute_days(days, now=now)
    rows = [
        DailyUptime(
            component_id=cid,
            day=day,
            operational_seconds=fig.seconds["operational"],
            degraded_seconds=fig.seconds["degraded"],
            partial_seconds=fig.seconds["partial"],
            major_seconds=fig.seconds["major"],
            maintenance_seconds=fig.seconds["maintenance"],
            unknown_seconds=fig.seconds["unknown"],
            worst_status=fig.worst_status,
            computed_at=now,
        )
        for cid, per_day in figures.items()
        for day, fig in per_day.items()
        if fig.worst_status  # only days with some recorded status get a row; the page shows the others as no data
    ]
    existing = set(Component.objects.filter(pk__in=figures.keys()).values_list("pk", flat=True))
    rows = [r for r in rows if r.component_id in existing]
    DailyUptime.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["component", "day"],
        update_fields=[
            "operational_seconds",
            "degraded_seconds",
            "partial_seconds",
            "major_seconds",
            "maintenance_seconds",
            "unknown_seconds",
            "worst_status",
            "computed_at",
        ],
    )
    return len(rows)


def days_to_roll_up(*, now: datetime) -> list[date]:
    """Finished days whose rollup is missing or was computed before the day ended (oldest first)."""
    zone = page_zone()
    yesterday = policy.day_of(now, zone) - timedelta(days=1)
    oldest_kept = yesterday - timedelta(days=settings.OPS_UPTIME_KEEP_DAYS - 1)
    first_interval = StatusInterval.objects.aggregate(m=Min("started_at"))["m"]
    if first_interval is None:
        return []
    first = max(policy.day_of(first_interval, zone), oldest_kept)
    final = set()
    for day, computed_at in DailyUptime.objects.filter(day__gte=first, day__lte=yesterday).values_list(
        "day", "computed_at"
    ):
        if computed_at >= policy.day_bounds(day, zone)[1]:
            final.add(day)
    # A day is final when any row of it is (all rows of a day are written together).
    return [d for d in (first + timedelta(days=n) for n in range((yesterday - first).days + 1)) if d not in final]


@transaction.atomic
def uptime_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Keep storage bounded: closed intervals older than OPS_UPTIME_INTERVAL_DAYS (their days are rolled
    up) and rollups older than OPS_UPTIME_KEEP_DAYS go."""
    now = now or timezone.now()
    interval_cutoff = now - timedelta(days=settings.OPS_UPTIME_INTERVAL_DAYS)
    rollup_cutoff = policy.day_of(now, page_zone()) - timedelta(days=settings.OPS_UPTIME_KEEP_DAYS)
    intervals, _ = StatusInterval.objects.filter(ended_at__lt=interval_cutoff).delete()
    rollups, _ = DailyUptime.objects.filter(day__lt=rollup_cutoff).delete()
    return {"intervals": intervals, "rollups": rollups}


def uptime_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work: record any change a crashed process missed, roll up finished days, prune."""
    now = now or timezone.now()
    synced = status_intervals_sync(now=now)
    written = uptime_rollup(now=now)
    pruned = uptime_prune(now=now)
    return {**synced, "rolled_up": written, **{f"pruned_{k}": v for k, v in pruned.items()}}
