"""Who did it: people, the system or API tokens — in the audit log's filter and the control room's last events."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from ersen_ops.audit.choices import ActorKind
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.policy import actor_kind
from ersen_ops.audit.selectors import actor_kind_q
from ersen_ops.audit.services import record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
AUDIT_LIST = reverse("admin:audit_auditevent_changelist")
INDEX = reverse("admin:index")


@pytest.fixture
def one_of_each():
    alice = UserFactory(username="alice")
    return {
        "person": record(actor=alice, action="window.scheduled"),
        "anonymous": record(actor=AnonymousUser(), action="subscriber.confirmed"),
        "system": record(actor="system:notifications", action="delivery.sent"),
        "cli": record(actor="cli", action="runbook.imported"),  # named system:cli by record()
        "token": record(actor="token:deploy-bot", action="incident.opened"),
    }


def test_record_keeps_token_actors_and_names_other_strings_as_system(one_of_each):
    assert one_of_each["token"].actor_name == "token:deploy-bot"
    assert one_of_each["cli"].actor_name == "system:cli"
    assert one_of_each["anonymous"].actor_name == "anonymous"


def test_each_event_has_exactly_one_actor_kind_and_the_query_agrees_with_the_rule(one_of_each):
    expected = {"person": "person", "anonymous": "person", "system": "system", "cli": "system", "token": "token"}
    for name, event in one_of_each.items():
        assert actor_kind(actor_id=event.actor_id, actor_name=event.actor_name) == expected[name], name
        matching = [kind for kind in ActorKind if AuditEvent.objects.filter(actor_kind_q(kind), pk=event.pk).exists()]
        assert matching == [ActorKind(expected[name])], name


def _actions(html: str) -> set[str]:
    return set(re.findall(r'<td class="field-action">([^<]+)</td>', html))


def test_the_audit_log_filters_by_actor_kind(client, users, one_of_each):
    client.force_login(users["admin"])
    html = client.get(AUDIT_LIST).content.decode()
    assert "By actor kind" in html and "?actor_kind=token" in html
    people = _actions(client.get(AUDIT_LIST, {"actor_kind": "person"}).content.decode())
    assert {"window.scheduled", "subscriber.confirmed"} <= people and not people & {"delivery.sent", "incident.opened"}
    system = _actions(client.get(AUDIT_LIST, {"actor_kind": "system"}).content.decode())
    assert {"delivery.sent", "runbook.imported"} <= system and "window.scheduled" not in system
    assert _actions(client.get(AUDIT_LIST, {"actor_kind": "token"}).content.decode()) == {"incident.opened"}


def _audit_section(html: str) -> str:
    start = html.index('id="cr-audit"')
    return html[start : html.index("</table>", start)]


def test_the_control_room_shows_peoples_actions_by_default(client, users, one_of_each):
    client.force_login(users["admin"])
    section = _audit_section(client.get(INDEX).content.decode())
    assert "audit events by people" in section
    assert "window.scheduled" in section and "incident.opened" in section  # people and tokens
    assert "delivery.sent" not in section and "runbook.imported" not in section
    assert 'href="?audit=all">show system events too</a>' in section


def test_the_control_room_toggle_adds_the_system_events(client, users, one_of_each):
    client.force_login(users["admin"])
    section = _audit_section(client.get(INDEX, {"audit": "all"}).content.decode())
    assert "delivery.sent" in section and "runbook.imported" in section and "window.scheduled" in section
    assert 'href="?">people\'s actions only</a>' in section
