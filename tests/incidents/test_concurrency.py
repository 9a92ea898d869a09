"""Two commanders acknowledging the same page at the same moment record ONE acknowledgement (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel
from incidents import selectors, services
from incidents.choices import Level
from incidents.models import Incident
from tests.incidents.factories import CommanderFactory, open_incident


def test_concurrent_acknowledgement_by_two_users_records_one(transactional_postgres):
    alice, bob = CommanderFactory(username="alice"), CommanderFactory(username="bob")
    incident = open_incident(level=Level.P1)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def acknowledge(user):
        try:
            barrier.wait(timeout=10)
            outcomes.append(services.incident_acknowledge(actor=user, incident=incident.pk))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=acknowledge, args=(u,)) for u in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(o.changed for o in outcomes) == [False, True]
    winner = next(o for o in outcomes if o.changed).incident.acknowledged_by
    loser = next(o for o in outcomes if not o.changed)
    assert loser.message.startswith(f"Already acknowledged by {winner.username} at ")
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.acknowledged_by == winner
    assert AuditEvent.objects.filter(action="incident.acknowledged").count() == 1
    acks = selectors.deliveries_for(incident).filter(channel=Channel.PAGER, pager_action="acknowledge")
    assert acks.count() == 1


def test_two_sweepers_running_at_once_page_and_breach_once(transactional_postgres):
    t0 = timezone.now() - timedelta(minutes=16)
    incident = open_incident(level=Level.P1, now=t0)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait(timeout=10)
            results.append(services.incidents_check_sla(now=t0 + timedelta(minutes=16)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sum(r["breached"] for r in results) == 1
    assert sum(r["repaged"] for r in results) == 0, "the breach page is this slot's page"
    assert AuditEvent.objects.filter(action="incident.breached").count() == 1
    assert selectors.deliveries_for(incident).filter(channel=Channel.PAGER, pager_action="trigger").count() == 2
