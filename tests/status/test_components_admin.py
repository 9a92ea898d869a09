"""Components in the admin: saves and deletes go through the audited services; grouping rules hold."""

from __future__ import annotations

import json

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from ersen_ops.status import services
from ersen_ops.status.models import Component
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def form_data(component, **changes):
    data = {
        "name": component.name,
        "description": component.description,
        "status": component.status,
        "public": "on" if component.public else "",
        "position": component.position,
        "is_group": "on" if component.is_group else "",
        "group": component.group_id or "",
        "showcase": "",
        "only_show_if_degraded": "",
        "start_date": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_operator_sets_a_manual_status_audited_and_published(client, users):
    component = ComponentFactory(name="API")
    client.force_login(users["operator"])
    url = f"/admin/status/component/{component.pk}/change/"
    response = client.post(url, form_data(component, status="partial_outage"))
    assert response.status_code == 302, response.content.decode()[:2000]
    component.refresh_from_db()
    assert component.status == "partial_outage"
    event = AuditEvent.objects.get(action="status.component.updated", target_id=str(component.pk))
    assert event.actor_name == "operator"
    assert event.data == {"before": {"status": "operational"}, "after": {"status": "partial_outage"}}
    client.logout()
    summary = json.loads(client.get("/api/v2/summary.json").content)
    assert summary["components"][0]["status"] == "partial_outage"


def test_viewer_cannot_change_a_component(client, users):
    component = ComponentFactory(name="API")
    client.force_login(users["viewer"])
    response = client.post(
        f"/admin/status/component/{component.pk}/change/", form_data(component, status="major_outage")
    )
    assert response.status_code == 403
    component.refresh_from_db()
    assert component.status == "operational"
    assert not AuditEvent.objects.filter(action__startswith="status.component").exists()


def test_a_group_cannot_sit_in_a_group(client, users):
    outer = ComponentFactory(name="Platform", is_group=True)
    inner = ComponentFactory(name="Payments", is_group=True)
    client.force_login(users["operator"])
    response = client.post(f"/admin/status/component/{inner.pk}/change/", form_data(inner, group=outer.pk))
    assert response.status_code == 200
    assert "a group cannot belong to another group" in response.content.decode()
    inner.refresh_from_db()
    assert inner.group_id is None
    inner.group = outer
    with pytest.raises(DomainError) as exc:
        services.component_save(
            actor=users["operator"],
            component=inner,
            before=services.component_state(Component.objects.get(pk=inner.pk)),
        )
    assert "Payments" in str(exc.value.details)


def test_a_group_with_children_stays_a_group(users):
    group = ComponentFactory(name="Payments", is_group=True)
    ComponentFactory(name="Cards", group=group)
    group.is_group = False
    with pytest.raises(DomainError) as exc:
        services.component_save(actor=users["operator"], component=group)
    assert "has 1 component(s) in it" in " ".join(exc.value.details)


def test_created_and_deleted_components_are_audited(client, users):
    client.force_login(users["admin"])
    response = client.post(
        "/admin/status/component/add/", {"name": "Search", "status": "operational", "public": "on", "position": 3}
    )
    assert response.status_code == 302
    component = Component.objects.get(name="Search")
    assert AuditEvent.objects.filter(action="status.component.created", target_id=str(component.pk)).exists()
    response = client.post(f"/admin/status/component/{component.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Component.objects.filter(name="Search").exists()
    deleted = AuditEvent.objects.get(action="status.component.deleted")
    assert deleted.data["component"] == "Search"
