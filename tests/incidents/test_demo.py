"""Demo incidents: several states, made through the services, idempotent."""

import io

import pytest

from ersen_ops.status import demo as core_demo
from incidents import demo, selectors
from incidents.choices import IncidentStatus, Level
from incidents.models import Incident


@pytest.mark.django_db
def test_demo_incidents_cover_the_states_and_seeding_twice_changes_nothing(users):
    core_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    first = set(Incident.objects.values_list("title", "level", "status", "breached", "acknowledged_at", "resolved_at"))
    demo.seed(io.StringIO())
    assert set(Incident.objects.values_list("title", "level", "status", "breached", "acknowledged_at", "resolved_at")) == first
    assert {i.level for i in Incident.objects.all()} == set(Level.values)
    assert Incident.objects.filter(status=IncidentStatus.RESOLVED).count() == 2
    assert Incident.objects.filter(breached=True).count() == 1
    assert selectors.component_impacts()  # the open P2 degrades Widgets
    assert list(selectors.backlog().values_list("level", flat=True)) == [Level.P4]
