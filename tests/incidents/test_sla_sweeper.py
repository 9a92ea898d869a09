"""The every-minute SLA sweeper, on a frozen clock: breach detection, escalation, P1 re-paging."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.scheduling import declared
from ersen_ops.notifications.choices import Channel
from incidents import selectors, services, tasks
from incidents.choices import Level
from tests.incidents.factories import CommanderFactory, open_incident


def pages(incident):
    return list(selectors.deliveries_for(incident).filter(channel=Channel.PAGER, pager_action="trigger"))


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return tasks.check_sla()


def test_the_sweeper_is_scheduled_every_minute():
    spec = next(s for s in declared() if s.name == "incidents.check_sla")
    assert (spec.func, spec.minutes) == ("incidents.tasks.check_sla", 1)


@pytest.mark.django_db
def test_an_unacknowledged_incident_is_breached_only_after_its_due_time(t0):
    commander = CommanderFactory(username="cmd", email="cmd@ersen.xyz")
    incident = open_incident(level=Level.P2, now=t0, commander=commander)
    assert sweep_at(t0 + timedelta(minutes=59, seconds=59)) == {"breached": 0, "repaged": 0}
    assert sweep_at(t0 + timedelta(hours=1)) == {"breached": 0, "repaged": 0}, "due at 13:00 is not yet past due"
    assert sweep_at(t0 + timedelta(hours=1, seconds=30)) == {"breached": 1, "repaged": 0}
    incident.refresh_from_db()
    assert incident.breached and incident.breached_at == t0 + timedelta(hours=1, seconds=30)
    event = AuditEvent.objects.get(action="incident.breached")
    assert event.actor_name == "system:incident-sla"
    assert event.data["overdue_seconds"] == 30
    assert event.data["escalated_to"] == ["slack", "email:cmd"]
    breach = list(selectors.deliveries_for(incident).filter(event="incident.breached"))
    assert [(d.channel, d.extra_recipients) for d in breach] == [(Channel.SLACK, []), (Channel.EMAIL, ["cmd@ersen.xyz"])]
    assert breach[0].subject == f"[P2] Response SLA missed: {incident.title}"
    # A second run finds nothing new: one breach, one escalation.
    assert sweep_at(t0 + timedelta(hours=1, minutes=1)) == {"breached": 0, "repaged": 0}
    assert AuditEvent.objects.filter(action="incident.breached").count() == 1


@pytest.mark.django_db
def test_acknowledged_and_resolved_incidents_are_never_breached(t0):
    acked = open_incident(level=Level.P2, now=t0)
    services.incident_acknowledge(actor=CommanderFactory(), incident=acked, now=t0 + timedelta(minutes=10))
    resolved = open_incident(level=Level.P3, now=t0)
    services.incident_resolve(actor=CommanderFactory(), incident=resolved, body="Fixed.", now=t0 + timedelta(minutes=10))
    assert sweep_at(t0 + timedelta(days=2)) == {"breached": 0, "repaged": 0}


@pytest.mark.django_db
def test_p3_and_p4_breaches_go_to_team_ops_not_to_an_alert_channel(t0):
    incident = open_incident(level=Level.P3, now=t0)
    sweep_at(t0 + timedelta(hours=24, minutes=1))
    assert [d.channel for d in selectors.deliveries_for(incident)] == [Channel.SLACK_TEAM_OPS]


@pytest.mark.django_db
def test_p1_is_repaged_every_5_minutes_until_acknowledged(t0):
    incident = open_incident(level=Level.P1, now=t0)
    assert len(pages(incident)) == 1
    assert sweep_at(t0 + timedelta(minutes=4, seconds=59))["repaged"] == 0
    assert sweep_at(t0 + timedelta(minutes=5, seconds=20))["repaged"] == 1
    assert sweep_at(t0 + timedelta(minutes=5, seconds=50))["repaged"] == 0, "once per interval even if the sweeper runs twice"
    assert sweep_at(t0 + timedelta(minutes=10, seconds=5))["repaged"] == 1
    assert len(pages(incident)) == 3
    assert all(p.dedup_key == incident.dedup_key for p in pages(incident))
    assert pages(incident)[-1].subject == f"[P1] Still unacknowledged after 10 min: {incident.title}"

    with time_machine.travel(t0 + timedelta(minutes=12), tick=False):
        services.incident_acknowledge(actor=CommanderFactory(username="cmd"), incident=incident)
    for minute in (15, 16, 20, 25, 60):
        assert sweep_at(t0 + timedelta(minutes=minute)) == {"breached": 0, "repaged": 0}
    assert len(pages(incident)) == 3, "paging stopped at the acknowledgement"
    incident.refresh_from_db()
    assert incident.page_count == 3 and not incident.breached
    assert AuditEvent.objects.filter(action="incident.repaged").count() == 2
    assert [d.pager_action for d in selectors.deliveries_for(incident).filter(channel=Channel.PAGER)] == [
        "trigger", "trigger", "trigger", "acknowledge"
    ]


@pytest.mark.django_db
def test_p1_breach_pages_once_even_when_it_falls_on_a_repage_slot(t0):
    incident = open_incident(level=Level.P1, now=t0)
    for minute in (5, 10):
        sweep_at(t0 + timedelta(minutes=minute))
    assert sweep_at(t0 + timedelta(minutes=15, seconds=1)) == {"breached": 1, "repaged": 0}
    assert len(pages(incident)) == 4  # open, 5, 10, breach at 15
    assert sweep_at(t0 + timedelta(minutes=20)) == {"breached": 0, "repaged": 1}


@pytest.mark.django_db
def test_the_repage_interval_is_configurable(t0, settings):
    settings.OPS_P1_REPAGE_MINUTES = 2
    incident = open_incident(level=Level.P1, now=t0)
    sweep_at(t0 + timedelta(minutes=2))
    sweep_at(t0 + timedelta(minutes=3))
    sweep_at(t0 + timedelta(minutes=4))
    assert len(pages(incident)) == 3
