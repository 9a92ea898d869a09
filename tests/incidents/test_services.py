"""Incident services: escalation by level, acknowledgement, level changes, updates, resolution, links, impacts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError, InvalidTransition, PolicyViolation
from ersen_ops.notifications.choices import Channel
from incidents import selectors, services
from incidents.choices import Impact, IncidentStatus, Level
from incidents.models import IncidentUpdate, LevelChange
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory, open_incident


def deliveries(incident, **filters):
    return list(selectors.deliveries_for(incident).filter(**filters))


def channels(incident, **filters):
    return [d.channel for d in deliveries(incident, **filters)]


def audit_actions(incident):
    return list(
        AuditEvent.objects.filter(target_id=str(incident.pk), action__startswith="incident.")
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.mark.django_db
def test_p1_pages_immediately_with_one_dedup_key_per_incident_plus_slack(t0):
    incident = open_incident(level=Level.P1, now=t0)
    assert incident.response_due_at == t0 + timedelta(minutes=15)
    page = deliveries(incident, channel=Channel.PAGER).pop()
    assert (page.pager_action, page.dedup_key, page.severity) == ("trigger", f"ersen-incident-{incident.public_id}", "critical")
    assert page.subject == f"[P1] Incident opened: {incident.title}"
    assert channels(incident) == [Channel.PAGER, Channel.SLACK]
    assert (incident.page_count, incident.pager_triggered_at, incident.last_paged_at) == (1, t0, t0)
    assert audit_actions(incident) == ["incident.opened"]


@pytest.mark.django_db
def test_p2_alerts_slack_and_p3_p4_interrupt_nobody(t0):
    p2 = open_incident(level=Level.P2, now=t0)
    assert channels(p2) == [Channel.SLACK]
    assert p2.response_due_at == t0 + timedelta(hours=1)
    p3 = open_incident(level=Level.P3, now=t0)
    p4 = open_incident(level=Level.P4, now=t0)
    assert channels(p3) == [] and channels(p4) == []
    assert p3.response_due_at == t0 + timedelta(hours=24)
    # Opened Tue 2026-03-10 (sprint 4: 03-02 … 03-15); due at the end of sprint 5 = Mon 2026-03-30 00:00 PDT.
    assert p4.response_due_at.isoformat() == "2026-03-30T07:00:00+00:00"
    assert list(selectors.sprint_queue(now=t0)) == [p3]
    assert list(selectors.backlog()) == [p4]


@pytest.mark.django_db
def test_first_message_is_a_public_investigating_update_on_the_status_page(t0):
    incident = open_incident(level=Level.P3, now=t0, message="Some widgets load slowly; we are looking into it.")
    update = incident.updates.get()
    assert (update.status, update.public) == (IncidentStatus.INVESTIGATING, True)
    status = deliveries(incident, channel=Channel.STATUS_PAGE).pop()
    assert status.body == "Some widgets load slowly; we are looking into it."
    assert status.subject == f"{incident.title} — Investigating"


@pytest.mark.django_db
def test_acknowledging_twice_is_a_no_op_with_a_message(t0):
    commander = CommanderFactory(username="cmd")
    incident = open_incident(level=Level.P1, now=t0)
    first = services.incident_acknowledge(actor=commander, incident=incident, now=t0 + timedelta(minutes=4))
    assert first.changed and first.message == "Acknowledged after 4 min."
    second = services.incident_acknowledge(actor=CommanderFactory(username="other"), incident=incident, now=t0 + timedelta(minutes=6))
    assert not second.changed
    assert second.message == "Already acknowledged by cmd at 2026-03-10 12:04 UTC; nothing changed."
    incident.refresh_from_db()
    assert incident.acknowledged_by == commander and incident.acknowledged_at == t0 + timedelta(minutes=4)
    assert incident.commander == commander, "nobody commanded it: the first responder takes command"
    assert audit_actions(incident) == ["incident.opened", "incident.acknowledged"]
    acks = deliveries(incident, channel=Channel.PAGER, pager_action="acknowledge")
    assert len(acks) == 1 and acks[0].dedup_key == incident.dedup_key


@pytest.mark.django_db
def test_a_late_acknowledgement_records_the_breach(t0):
    incident = open_incident(level=Level.P2, now=t0)
    outcome = services.incident_acknowledge(actor=CommanderFactory(), incident=incident, now=t0 + timedelta(minutes=61))
    assert outcome.incident.breached and outcome.incident.breached_at == t0 + timedelta(minutes=61)
    assert "was missed" in outcome.message


@pytest.mark.django_db
def test_raising_the_level_recomputes_due_keeps_history_and_pages(t0):
    actor = CommanderFactory(username="cmd")
    incident = open_incident(level=Level.P3, now=t0)
    now = t0 + timedelta(hours=2)
    services.incident_change_level(actor=actor, incident=incident, level=Level.P1, reason="Checkout fails for everyone", now=now)
    incident.refresh_from_db()
    assert incident.level == Level.P1
    assert incident.response_due_at == now + timedelta(minutes=15)
    change = LevelChange.objects.get()
    assert (change.changed_by, change.changed_at, change.old_level, change.new_level, change.reason) == (
        actor, now, Level.P3, Level.P1, "Checkout fails for everyone"
    )
    assert (change.old_response_due_at, change.new_response_due_at) == (t0 + timedelta(hours=24), now + timedelta(minutes=15))
    assert channels(incident) == [Channel.PAGER, Channel.SLACK]
    assert incident.pager_triggered_at == now
    event = AuditEvent.objects.get(action="incident.level_changed")
    assert event.data["before"]["level"] == "P3" and event.data["after"]["level"] == "P1"
    assert event.data["reason"] == "Checkout fails for everyone"


@pytest.mark.django_db
def test_raising_never_postpones_the_due_time(t0):
    incident = open_incident(level=Level.P2, now=t0)  # due 13:00
    services.incident_change_level(actor=CommanderFactory(), incident=incident, level=Level.P1, reason="worse", now=t0 + timedelta(minutes=50))
    incident.refresh_from_db()
    assert incident.response_due_at == t0 + timedelta(hours=1)


@pytest.mark.django_db
def test_lowering_never_extends_a_recorded_breach_and_stops_paging(t0):
    incident = open_incident(level=Level.P1, now=t0)
    services.incidents_check_sla(now=t0 + timedelta(minutes=16))
    incident.refresh_from_db()
    assert incident.breached
    services.incident_change_level(
        actor=CommanderFactory(), incident=incident, level=Level.P3, reason="Only one customer affected", now=t0 + timedelta(minutes=20)
    )
    incident.refresh_from_db()
    assert incident.level == Level.P3 and incident.breached
    assert incident.response_due_at == t0 + timedelta(minutes=15), "the breach stays on the record"
    assert not incident.pager_open
    resolve = deliveries(incident, channel=Channel.PAGER, pager_action="resolve")
    assert len(resolve) == 1
    services.incidents_check_sla(now=t0 + timedelta(minutes=40))
    assert len(deliveries(incident, channel=Channel.PAGER, pager_action="trigger")) == 2, "no page after lowering"


@pytest.mark.django_db
def test_lowering_an_unbreached_incident_counts_the_new_response_time_from_the_opening(t0):
    incident = open_incident(level=Level.P1, now=t0)
    services.incident_change_level(actor=CommanderFactory(), incident=incident, level=Level.P2, reason="degraded only", now=t0 + timedelta(minutes=5))
    incident.refresh_from_db()
    assert incident.response_due_at == t0 + timedelta(hours=1) and not incident.breached


@pytest.mark.django_db
def test_changing_the_level_needs_a_reason_and_a_different_level(t0):
    incident = open_incident(level=Level.P2, now=t0)
    with pytest.raises(DomainError, match="needs a reason"):
        services.incident_change_level(actor=CommanderFactory(), incident=incident, level=Level.P1, reason="  ")
    with pytest.raises(DomainError, match="already P2"):
        services.incident_change_level(actor=CommanderFactory(), incident=incident, level=Level.P2, reason="x")
    assert LevelChange.objects.count() == 0


@pytest.mark.django_db
def test_updates_move_the_status_and_only_public_ones_reach_the_status_page(t0):
    incident = open_incident(level=Level.P2, now=t0)
    services.incident_post_update(actor=CommanderFactory(), incident=incident, status=IncidentStatus.IDENTIFIED, body="Bad deploy of the API.", public=True)
    services.incident_post_update(actor=CommanderFactory(), incident=incident, status=IncidentStatus.IDENTIFIED, body="Rolling back build 4711", public=False)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.IDENTIFIED
    posts = deliveries(incident, channel=Channel.STATUS_PAGE)
    assert [d.body for d in posts] == ["Bad deploy of the API."]
    assert [e for e in audit_actions(incident)].count("incident.update_posted") == 2


@pytest.mark.django_db
def test_resolving_without_final_text_is_refused(t0):
    incident = open_incident(level=Level.P2, now=t0)
    with pytest.raises(PolicyViolation, match="Resolving needs a final public update"):
        services.incident_resolve(actor=CommanderFactory(), incident=incident, body="   ")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.INVESTIGATING and incident.resolved_at is None


@pytest.mark.django_db
def test_resolving_publishes_the_final_update_and_resolves_the_page(t0):
    actor = CommanderFactory(username="cmd")
    incident = open_incident(level=Level.P1, now=t0)
    services.incident_acknowledge(actor=actor, incident=incident, now=t0 + timedelta(minutes=3))
    services.incident_resolve(actor=actor, incident=incident, body="Fixed: the database failover completed.", now=t0 + timedelta(minutes=50))
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by, incident.resolved_at) == (IncidentStatus.RESOLVED, actor, t0 + timedelta(minutes=50))
    final = incident.updates.get(status=IncidentStatus.RESOLVED)
    assert final.public and final.body == "Fixed: the database failover completed."
    assert [d.pager_action for d in deliveries(incident, channel=Channel.PAGER)] == ["trigger", "acknowledge", "resolve"]
    assert deliveries(incident, channel=Channel.STATUS_PAGE)[-1].body == "Fixed: the database failover completed."
    with pytest.raises(InvalidTransition, match="already resolved"):
        services.incident_resolve(actor=actor, incident=incident, body="again")
    with pytest.raises(InvalidTransition, match="resolved"):
        services.incident_post_update(actor=actor, incident=incident, status=IncidentStatus.MONITORING, body="x")
    assert audit_actions(incident)[-1] == "incident.resolved"


@pytest.mark.django_db
def test_resolving_an_unacknowledged_incident_counts_as_its_response(t0):
    incident = open_incident(level=Level.P3, now=t0)
    services.incident_resolve(actor=CommanderFactory(username="dev"), incident=incident, body="Fixed in 1.4.2", now=t0 + timedelta(hours=3))
    incident.refresh_from_db()
    assert incident.acknowledged_at == t0 + timedelta(hours=3) and not incident.breached


@pytest.mark.django_db
def test_resolved_is_final_and_status_moves_follow_the_table(t0):
    incident = open_incident(level=Level.P3, now=t0)
    with pytest.raises(InvalidTransition, match="use “Resolve”"):
        services.incident_post_update(actor=CommanderFactory(), incident=incident, status=IncidentStatus.RESOLVED, body="done")


@pytest.mark.django_db
def test_component_impacts_worst_unresolved_impact_wins(t0):
    api, login, web = ComponentFactory(name="API"), ComponentFactory(name="Login"), ComponentFactory(name="Website")
    a = open_incident(level=Level.P2, now=t0, components={api: Impact.DEGRADED_PERFORMANCE, login: Impact.MAJOR_OUTAGE})
    open_incident(level=Level.P1, now=t0, components={api: Impact.PARTIAL_OUTAGE})
    c = open_incident(level=Level.P3, now=t0, components={web: Impact.MAJOR_OUTAGE})
    services.incident_resolve(actor=CommanderFactory(), incident=c, body="fixed")
    assert selectors.component_impacts() == {api.pk: Impact.PARTIAL_OUTAGE, login.pk: Impact.MAJOR_OUTAGE}
    services.incident_set_components(actor=CommanderFactory(), incident=a, components={login: Impact.DEGRADED_PERFORMANCE})
    assert selectors.component_impacts() == {api.pk: Impact.PARTIAL_OUTAGE, login.pk: Impact.DEGRADED_PERFORMANCE}
    event = AuditEvent.objects.get(action="incident.components_changed")
    assert event.data == {"before": {"API": "degraded_performance", "Login": "major_outage"}, "after": {"Login": "degraded_performance"}}


@pytest.mark.django_db
def test_commander_can_be_assigned_and_is_audited(t0):
    incident = open_incident(level=Level.P2, now=t0)
    boss = CommanderFactory(username="boss")
    services.incident_assign_commander(actor=CommanderFactory(username="lead"), incident=incident, commander=boss)
    incident.refresh_from_db()
    assert incident.commander == boss
    assert AuditEvent.objects.get(action="incident.commander_assigned").data["after"]["commander"] == "boss"


@pytest.mark.django_db
def test_edit_changes_only_free_text_fields(t0):
    incident = open_incident(level=Level.P2, now=t0)
    with pytest.raises(DomainError, match="own actions"):
        services.incident_edit(actor=CommanderFactory(), incident=incident, level=Level.P1)
    services.incident_edit(actor=CommanderFactory(), incident=incident, internal_notes="db01 disk at 97%")
    assert AuditEvent.objects.get(action="incident.edited").data["after"] == {"internal_notes": "db01 disk at 97%"}


@pytest.mark.django_db
def test_timeline_mixes_updates_and_level_changes_in_time_order(t0):
    incident = open_incident(level=Level.P3, now=t0, message="Looking")
    services.incident_change_level(actor=CommanderFactory(), incident=incident, level=Level.P2, reason="spreading", now=t0 + timedelta(minutes=1))
    services.incident_post_update(actor=CommanderFactory(), incident=incident, status=IncidentStatus.IDENTIFIED, body="found", now=t0 + timedelta(minutes=2))
    assert [e.kind for e in selectors.incident_timeline(incident)] == ["update", "level", "update"]
    assert IncidentUpdate.objects.count() == 2
