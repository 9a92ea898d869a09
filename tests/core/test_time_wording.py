"""Times and refusals as an operator reads them: the due time in their zone and Pacific, a final state is not
"yet", and one time when both zones are the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from ersen_ops.core.display import local_and_pacific_text
from ersen_ops.core.timezones import COOKIE
from incidents import services
from incidents.choices import Level
from incidents.models import Incident
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident

pytestmark = pytest.mark.django_db
NOON_UTC = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("Europe/Berlin", "13:00 CET · 04:00 PST"),
        ("UTC", "12:00 UTC · 04:00 PST"),
        ("America/Los_Angeles", "04:00 PST"),  # one time when both zones are the same
    ],
)
def test_the_text_formatter_gives_the_operators_zone_and_pacific_once_each(zone, text):
    with time_machine.travel(NOON_UTC, tick=False), timezone.override(zone):
        assert local_and_pacific_text(NOON_UTC) == text


def test_opening_an_incident_says_when_the_response_is_due_in_the_operators_zone_and_pacific(client, users):
    api = ComponentFactory(name="API")
    client.force_login(users["commander"])
    client.cookies[COOKIE] = "Europe/Berlin"
    with time_machine.travel(NOON_UTC, tick=False):
        response = client.post(
            reverse("admin:incidents_incident_open"),
            {"title": "Checkout fails", "level": Level.P2, f"impact_{api.pk}": "major_outage", "message": "Looking."},
        )
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    incident = Incident.objects.get()
    assert incident.response_due_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert f"Incident {incident.public_id} opened as P2; response due 14:00 CET · 05:00 PST." in message
    assert "UTC" not in message


def test_a_final_state_is_no_longer_possible_not_not_possible_yet(client, users):
    incident = open_incident(level=Level.P3, actor=users["commander"])
    services.incident_resolve(actor=users["commander"], incident=incident, body="Fixed.")
    client.force_login(users["commander"])
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert "<strong>Resolve</strong> is no longer possible: The incident is resolved.</li>" in html
    assert "<strong>Acknowledge</strong> is no longer possible: It was acknowledged by commander.</li>" in html
    assert "not possible yet" not in html
