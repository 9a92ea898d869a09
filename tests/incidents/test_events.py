"""Every event name an incident writes (audit actions, notification events, status-page posts) is an IncidentEvent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ersen_ops.audit.models import AuditEvent
from incidents import selectors, services
from incidents.choices import PUBLIC_UPDATE_EVENTS, IncidentEvent, IncidentStatus, Level
from subscribers.choices import NoticeKind
from subscribers.policy import notice_kind
from tests.incidents.factories import CommanderFactory, open_incident

pytestmark = pytest.mark.django_db


def test_a_whole_p1_lifecycle_writes_only_incident_events(t0, settings):
    settings.OPS_P1_REPAGE_MINUTES = 5
    commander = CommanderFactory(username="cmd")
    incident = open_incident(level=Level.P1, actor=commander, now=t0, message="Looking into it.")
    services.incidents_check_sla(now=t0 + timedelta(minutes=6))  # paged again
    services.incidents_check_sla(now=t0 + timedelta(minutes=20))  # breached
    services.incident_acknowledge(actor=commander, incident=incident, now=t0 + timedelta(minutes=21))
    services.incident_change_level(actor=commander, incident=incident, level=Level.P2, reason="contained")
    services.incident_post_update(actor=commander, incident=incident, status=IncidentStatus.IDENTIFIED, body="Found.")
    services.incident_edit(actor=commander, incident=incident, internal_notes="db01")
    services.incident_resolve(actor=commander, incident=incident, body="Fixed.")

    actions = set(
        AuditEvent.objects.filter(target_id=str(incident.pk), action__startswith="incident.").values_list(
            "action", flat=True
        )
    )
    events = set(selectors.deliveries_for(incident).values_list("event", flat=True))
    assert actions and events
    assert actions | events <= set(IncidentEvent.values)
    assert {IncidentEvent.OPENED, IncidentEvent.BREACHED, IncidentEvent.REPAGED, IncidentEvent.RESOLVED} <= actions
    assert {IncidentEvent.PAGED, IncidentEvent.PAGER_ACKNOWLEDGE, IncidentEvent.INVESTIGATING} <= events


def test_subscribers_read_public_updates_from_the_enumeration():
    assert PUBLIC_UPDATE_EVENTS == {
        IncidentEvent.INVESTIGATING,
        IncidentEvent.IDENTIFIED,
        IncidentEvent.MONITORING,
        IncidentEvent.RESOLVED,
    }
    assert notice_kind(IncidentEvent.INVESTIGATING, first_public_post=True) == NoticeKind.INCIDENT_OPENED
    assert notice_kind(IncidentEvent.IDENTIFIED, first_public_post=False) == NoticeKind.INCIDENT_UPDATED
    assert notice_kind(IncidentEvent.RESOLVED, first_public_post=False) == NoticeKind.INCIDENT_RESOLVED
    assert notice_kind("incident.postmortem", first_public_post=False) == NoticeKind.INCIDENT_RESOLVED
    assert notice_kind(IncidentEvent.ACKNOWLEDGED, first_public_post=False) is None
