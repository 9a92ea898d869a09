"""Incident services check permissions themselves (the kit's one rule): a role without the permission is refused,
nothing changes and nothing is audited; the system acts on its own authority; the admin shows the same words."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import PermissionRefused
from incidents import services
from incidents.choices import IncidentStatus, Level
from incidents.models import Incident
from tests.incidents.factories import open_incident

pytestmark = pytest.mark.django_db

CALLS = {
    "acknowledge": (services.PERM_ACKNOWLEDGE, lambda actor, i: services.incident_acknowledge(actor=actor, incident=i)),
    "change_level": (
        services.PERM_CHANGE_LEVEL,
        lambda actor, i: services.incident_change_level(actor=actor, incident=i, level=Level.P1, reason="worse"),
    ),
    "post_update": (
        services.PERM_POST_UPDATE,
        lambda actor, i: services.incident_post_update(
            actor=actor, incident=i, status=IncidentStatus.IDENTIFIED, body="Found it."
        ),
    ),
    "resolve": (services.PERM_RESOLVE, lambda actor, i: services.incident_resolve(actor=actor, incident=i, body="Ok.")),
    "assign_commander": (
        services.PERM_COMMAND,
        lambda actor, i: services.incident_assign_commander(actor=actor, incident=i, commander=None),
    ),
    "set_components": (
        services.PERM_CHANGE,
        lambda actor, i: services.incident_set_components(actor=actor, incident=i, components={}),
    ),
    "edit": (services.PERM_CHANGE, lambda actor, i: services.incident_edit(actor=actor, incident=i, title="New")),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_viewer_is_refused_every_incident_change_and_nothing_is_recorded(users, name):
    permission, call = CALLS[name]
    incident = open_incident(level=Level.P3, actor=users["commander"])
    events = AuditEvent.objects.count()
    with pytest.raises(PermissionRefused, match=rf"Your role does not allow .* \(it needs the permission {permission}\)"):
        call(users["viewer"], incident)
    assert AuditEvent.objects.count() == events
    assert Incident.objects.get(pk=incident.pk).updated_at == incident.updated_at


def test_an_operator_opens_and_updates_but_may_not_acknowledge_or_resolve(users):
    incident = open_incident(level=Level.P3, actor=users["operator"])
    services.incident_post_update(actor=users["operator"], incident=incident, status=IncidentStatus.IDENTIFIED, body="x")
    with pytest.raises(PermissionRefused, match="incidents.acknowledge_incident"):
        services.incident_acknowledge(actor=users["operator"], incident=incident)
    with pytest.raises(PermissionRefused, match="incidents.resolve_incident"):
        services.incident_resolve(actor=users["operator"], incident=incident, body="Fixed.")


def test_a_viewer_may_not_open_an_incident(users):
    with pytest.raises(PermissionRefused, match=r"opening incidents \(it needs the permission incidents.add_incident\)"):
        open_incident(actor=users["viewer"])
    assert not Incident.objects.exists()


def test_the_system_acts_on_its_own_authority_an_anonymous_visitor_does_not(users):
    incident = open_incident(level=Level.P3, actor="system:alerts")
    assert services.incident_acknowledge(actor="system:alerts", incident=incident).changed
    with pytest.raises(PermissionRefused, match="needs a signed-in user"):
        services.incident_resolve(actor=AnonymousUser(), incident=incident, body="Fixed.")


def test_the_admin_says_which_permission_is_missing(client, users):
    incident = open_incident(level=Level.P3, actor=users["commander"])
    client.force_login(users["viewer"])
    response = client.get(reverse("admin:incidents_incident_open"))
    assert response.status_code == 403
    assert (
        "Your role does not allow opening incidents (it needs the permission incidents.add_incident)."
        in response.content.decode()
    )
    client.force_login(users["operator"])
    response = client.post(reverse("admin:incidents_incident_workflow", args=[incident.pk, "acknowledge"]))
    assert response.status_code == 403
    assert (
        "Your role does not allow “Acknowledge” (it needs the permission incidents.acknowledge_incident)."
        in response.content.decode()
    )
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None
