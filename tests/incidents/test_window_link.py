"""An incident caused by maintenance links its window, but only a window that ran while the incident was open."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import PolicyViolation
from incidents import services
from incidents.choices import Level
from maintenance.choices import WindowStatus
from maintenance.models import MaintenanceWindow
from tests.incidents.factories import CommanderFactory, open_incident


def window(start, end, status=WindowStatus.COMPLETED, **kwargs):
    return MaintenanceWindow.objects.create(
        title="Database upgrade", planned_start=start, planned_end=end, status=status,
        impact="Short outage", reason="PostgreSQL 17", **kwargs,
    )


@pytest.mark.django_db
def test_an_incident_opened_during_a_window_links_it(t0):
    w = window(t0 - timedelta(minutes=30), t0 + timedelta(minutes=30), actual_start=t0 - timedelta(minutes=30), actual_end=t0 + timedelta(minutes=20))
    incident = open_incident(level=Level.P1, now=t0, maintenance_window=w)
    assert incident.maintenance_window == w
    assert list(w.incidents.all()) == [incident]


@pytest.mark.django_db
def test_a_window_that_does_not_overlap_the_incidents_open_time_is_refused_with_both_ranges(t0):
    w = window(t0 - timedelta(hours=3), t0 - timedelta(hours=2), actual_start=t0 - timedelta(hours=3), actual_end=t0 - timedelta(hours=2))
    incident = open_incident(level=Level.P2, now=t0)
    with pytest.raises(PolicyViolation) as exc:
        services.incident_link_window(actor=CommanderFactory(), incident=incident, window=w, now=t0 + timedelta(minutes=5))
    assert str(exc.value) == (
        "Maintenance window “Database upgrade” ran 2026-03-10 09:00 UTC → 2026-03-10 10:00 UTC, which does not "
        "overlap the incident's open time 2026-03-10 12:00 UTC → still open: an incident can only be linked to "
        "the window that was running while it was open."
    )
    incident.refresh_from_db()
    assert incident.maintenance_window is None


@pytest.mark.django_db
def test_an_in_progress_window_covers_up_to_now_and_a_link_is_audited(t0):
    # Planned to end before the incident, still running (overran): it overlaps.
    w = window(t0 - timedelta(hours=2), t0 - timedelta(hours=1), status=WindowStatus.IN_PROGRESS, actual_start=t0 - timedelta(hours=2))
    incident = open_incident(level=Level.P2, now=t0)
    services.incident_link_window(actor=CommanderFactory(), incident=incident, window=w, now=t0 + timedelta(minutes=5))
    event = AuditEvent.objects.get(action="incident.window_linked")
    assert event.data["before"]["maintenance_window"] is None and event.data["after"]["maintenance_window"] == w.pk


@pytest.mark.django_db
def test_a_cancelled_window_cannot_have_caused_an_incident(t0):
    w = window(t0 - timedelta(minutes=30), t0 + timedelta(minutes=30), status=WindowStatus.CANCELLED)
    with pytest.raises(PolicyViolation, match="cancelled: it never ran"):
        open_incident(level=Level.P2, now=t0, maintenance_window=w)
