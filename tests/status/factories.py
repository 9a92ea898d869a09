"""Data for the status tests.

`build_example()` recreates the reference `statuspage-summary-example.json` as rows (same ids,
names and times), so the API's output can be compared with the example field by field.
`scenario_*` helpers drive the real maintenance and incident services for integration tests.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import time_machine
from django.contrib.contenttypes.models import ContentType

from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.status.models import Component, StatusPost
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from tests.factories import UserFactory

# A copy of shared/reference/statuspage-summary-example.json (the wire format's complete example).
EXAMPLE = Path(__file__).with_name("statuspage-summary-example.json")


def load_example() -> dict:
    return json.loads(EXAMPLE.read_text())


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_component(*, at: datetime, **fields) -> Component:
    with time_machine.travel(at, tick=False):
        return Component.objects.create(**fields)


def publish(
    related, *, event: str, body: str, at: datetime, subject: str = "", public_id: str | None = None
) -> StatusPost:
    """What the status page channel does when it sends: a sent delivery and its StatusPost."""
    delivery = NotificationDelivery.objects.create(
        event=event,
        channel=Channel.STATUS_PAGE,
        subject=subject or event,
        body=body,
        message=body,
        related_type=ContentType.objects.get_for_model(related),
        related_id=str(related.pk),
        status=DeliveryStatus.SENT,
        sent_at=at,
    )
    extra = {"public_id": public_id} if public_id else {}
    return StatusPost.objects.create(
        delivery=delivery,
        related_type=delivery.related_type,
        related_id=delivery.related_id,
        event=event,
        subject=delivery.subject,
        body=body,
        created_at=at,
        **extra,
    )


def build_example() -> dict:
    """The reference example as rows. Returns the objects by name."""
    created = utc(2025, 1, 10, 9, 0)
    api = make_component(
        at=created,
        public_id="cmp_api0001",
        name="API",
        description="Public REST API",
        position=1,
        showcase=True,
        start_date=date(2025, 1, 10),
    )
    db = make_component(at=created, public_id="cmp_db00001", name="Database", position=2)
    web = make_component(at=created, public_id="cmp_web0001", name="Website", position=3)
    owner = UserFactory(username="owner")
    window = MaintenanceWindow.objects.create(
        public_id="mnt_0000001",
        title="Database minor-version upgrade",
        type="routine",
        status="in_progress",
        planned_start=utc(2026, 5, 4, 10, 0),
        planned_end=utc(2026, 5, 4, 11, 0),
        eta=utc(2026, 5, 4, 11, 0),
        actual_start=utc(2026, 5, 4, 10, 0),
        announced_at=utc(2026, 4, 28, 12, 0),
        impact="Brief read-only periods.",
        reason="Minor-version upgrade.",
        announcement="We will upgrade the primary database. Brief read-only periods expected.",
        owner=owner,
    )
    window.components.set([db])
    publish(
        window,
        event="maintenance.scheduled",
        body="We will upgrade the primary database. Brief read-only periods expected.",
        at=utc(2026, 4, 28, 12, 0),
        public_id="upd_0000009",
    )
    publish(
        window,
        event="maintenance.started",
        body="Scheduled maintenance is currently in progress.",
        at=utc(2026, 5, 4, 10, 0),
        public_id="upd_0000002",
    )
    incident = Incident.objects.create(
        public_id="inc_0000001",
        title="Elevated API latency",
        level="P3",
        status="investigating",
        opened_at=utc(2026, 5, 4, 10, 1, 30),
        response_due_at=utc(2026, 5, 5, 10, 1, 30),
        internal_notes="Suspect the new connection pool.",
    )
    IncidentComponent.objects.create(incident=incident, component=api, impact="degraded_performance")
    IncidentUpdate.objects.create(
        public_id="upd_0000001",
        incident=incident,
        status="investigating",
        body="We are investigating elevated latency on the API.",
        public=True,
        created_at=utc(2026, 5, 4, 10, 2),
    )
    return {"api": api, "db": db, "web": web, "window": window, "incident": incident, "owner": owner}
