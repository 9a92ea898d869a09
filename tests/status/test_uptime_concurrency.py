"""Several processes syncing the uptime history at the same moment record a change once (PostgreSQL, real commits)."""

from __future__ import annotations

import threading

from django.db import connection

from ersen_ops.status.models import Component, StatusInterval
from ersen_ops.status.uptime import services as uptime
from tests.factories import ComponentFactory


def test_concurrent_syncs_open_one_interval_per_change(transactional_postgres):
    api = ComponentFactory(name="API")  # a real commit: its after-commit sync opened the first interval
    assert list(StatusInterval.objects.filter(component=api).values_list("status", flat=True)) == ["operational"]
    # A change whose after-commit sync never ran (no signal, no bump: a crashed process); four sweepers race.
    Component.objects.filter(pk=api.pk).update(status="major_outage")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def sync():
        try:
            barrier.wait(timeout=10)
            results.append(uptime.status_intervals_sync())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(r["opened"] for r in results) == [0, 0, 0, 1]
    rows = list(
        StatusInterval.objects.filter(component=api).order_by("started_at", "id").values_list("status", "ended_at")
    )
    assert [status for status, _ in rows] == ["operational", "major_outage"]
    assert rows[0][1] is not None and rows[1][1] is None
