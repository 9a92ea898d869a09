"""Uncached, every public document costs a constant number of queries, however long the history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType

from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.status.models import StatusPost
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from statuspage import caching
from tests.status.factories import build_example, utc

pytestmark = pytest.mark.django_db

# Queries per uncached document (the version check included). A change here is a change of the
# loading strategy, never a function of the data size.
EXPECTED = {
    "/api/v2/summary.json": 15,
    "/api/v2/status.json": 15,
    "/api/v2/components.json": 15,
    "/api/v2/incidents/unresolved.json": 15,
    "/api/v2/scheduled-maintenances/upcoming.json": 15,
    "/api/v2/scheduled-maintenances/active.json": 15,
    "/api/v2/incidents.json": 18,
    "/api/v2/scheduled-maintenances.json": 18,
    "/": 24,  # 21 + the uptime bars: rollups, today's intervals, the incidents of the 90 days
    "/api/uptime.json": 9,
    "/incidents/inc_0000001": 9,
    "/incidents/mnt_0000001": 9,
    "/history.atom": 15,
    "/history.rss": 15,
    "/maintenance.ics": 3,
}


def add_history(count: int, rows) -> None:
    """`count` incidents (each with 2 public and 1 internal update and an impact) and count/2 windows with posts."""
    base = utc(2026, 4, 20, 8, 0)
    incidents = Incident.objects.bulk_create(
        Incident(
            title=f"Incident {n}",
            level="P3",
            status="resolved" if n % 4 else "investigating",
            opened_at=base - timedelta(minutes=n),
            resolved_at=base - timedelta(minutes=n) + timedelta(minutes=30) if n % 4 else None,
            response_due_at=base + timedelta(days=1),
        )
        for n in range(count)
    )
    IncidentComponent.objects.bulk_create(
        IncidentComponent(incident=i, component=rows["web"] if n % 2 else rows["api"], impact="partial_outage")
        for n, i in enumerate(incidents)
    )
    IncidentUpdate.objects.bulk_create(
        IncidentUpdate(incident=i, status=status, body=f"{status} {n}", public=public, created_at=i.opened_at + delay)
        for n, i in enumerate(incidents)
        for status, public, delay in (
            ("investigating", True, timedelta(minutes=1)),
            ("identified", False, timedelta(minutes=5)),
            ("resolved" if i.resolved_at else "monitoring", True, timedelta(minutes=30)),
        )
    )
    windows = MaintenanceWindow.objects.bulk_create(
        MaintenanceWindow(
            title=f"Window {n}",
            status=("completed", "cancelled", "scheduled")[n % 3],
            planned_start=base - timedelta(days=n % 40, hours=n),
            planned_end=base - timedelta(days=n % 40, hours=n) + timedelta(hours=1),
            announced_at=base - timedelta(days=n % 40 + 2),
            closed_at=base if n % 3 == 0 else None,
            actual_start=base - timedelta(days=n % 40, hours=n) if n % 3 == 0 else None,
            actual_end=base - timedelta(days=n % 40, hours=n) + timedelta(minutes=40) if n % 3 == 0 else None,
            announcement=f"Window {n} announcement",
            impact="x",
            reason="y",
        )
        for n in range(count // 2)
    )
    through = MaintenanceWindow.components.through
    through.objects.bulk_create(through(maintenancewindow_id=w.pk, component_id=rows["db"].pk) for w in windows)
    ct = ContentType.objects.get_for_model(MaintenanceWindow)
    deliveries = NotificationDelivery.objects.bulk_create(
        NotificationDelivery(
            event="maintenance.scheduled",
            channel="status_page",
            subject="s",
            body="b",
            related_type=ct,
            related_id=str(w.pk),
            status="sent",
        )
        for w in windows
    )
    StatusPost.objects.bulk_create(
        StatusPost(
            delivery=d,
            related_type=ct,
            related_id=d.related_id,
            event="maintenance.scheduled",
            subject="s",
            body=f"Announcement {d.pk}",
            created_at=w.announced_at,
        )
        for d, w in zip(deliveries, windows, strict=True)
    )


def uncached_counts(client, django_assert_num_queries) -> None:
    for url, expected in EXPECTED.items():
        caching.documents.clear()
        with django_assert_num_queries(expected):
            response = client.get(url)
        assert response.status_code == 200, url
        with django_assert_num_queries(1):  # cached: the version check only
            assert client.get(url).status_code == 200


@time_machine.travel(utc(2026, 4, 25, 12, 0), tick=False)  # the page's 14 days of history hold both data sets
def test_query_counts_are_the_same_for_10_and_2000_incidents(client, django_assert_num_queries):
    rows = build_example()
    add_history(10, rows)
    uncached_counts(client, django_assert_num_queries)
    add_history(1990, rows)
    assert Incident.objects.count() == 2001
    uncached_counts(client, django_assert_num_queries)
