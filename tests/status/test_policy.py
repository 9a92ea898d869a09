"""The rollup: component status, incident impact, page indicator (pure rules, then through the API)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ersen_ops.status import policy
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from statuspage import policy as page_policy
from tests.status.factories import make_component, utc

OP, UM, DEG, PART, MAJ = "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"


@pytest.mark.parametrize(
    ("manual", "impacts", "in_maintenance", "expected"),
    [
        (OP, [], False, OP),
        (OP, [], True, UM),
        (DEG, [], False, DEG),  # the manual status alone
        (OP, [DEG, MAJ, PART], False, MAJ),  # the worst unresolved impact wins
        (OP, [DEG], True, DEG),  # degraded is worse than maintenance
        (MAJ, [DEG], True, MAJ),  # incidents and maintenance never make it better
        (UM, [], False, UM),  # a manual "under maintenance" stays
    ],
)
def test_component_status_is_the_worst_of_manual_incidents_and_maintenance(manual, impacts, in_maintenance, expected):
    assert policy.component_status(manual=manual, incident_impacts=impacts, in_maintenance=in_maintenance) == expected


def test_group_status_is_the_worst_of_its_own_and_its_children():
    assert policy.group_status(manual=OP, children=[OP, DEG, UM]) == DEG
    assert policy.group_status(manual=PART, children=[OP]) == PART
    assert policy.group_status(manual=OP, children=[]) == OP


@pytest.mark.parametrize(
    ("impacts", "level", "expected"),
    [
        ([], "P4", "none"),
        ([], "P3", "minor"),
        ([], "P2", "major"),
        ([], "P1", "critical"),
        ([DEG], "P4", "minor"),
        ([PART], "P4", "major"),
        ([MAJ, DEG], "P3", "critical"),
        ([DEG], "P1", "critical"),
    ],
)
def test_incident_impact_is_the_worst_of_its_components_and_its_level(impacts, level, expected):
    assert page_policy.incident_impact(component_impacts=impacts, level=level) == expected


@pytest.mark.parametrize(
    ("statuses", "unplaced", "maintenance", "expected"),
    [
        ([OP, OP, OP], [], False, ("none", "All Systems Operational")),
        ([OP, UM, OP], [], True, ("maintenance", "Service Under Maintenance")),
        ([OP, OP], [], True, ("maintenance", "Service Under Maintenance")),  # a window on no public component
        ([DEG, UM, OP], [], True, ("minor", "Partially Degraded Service")),  # the reference example
        # The headline says what the worst component says, however many components there are.
        ([PART, OP, OP], [], False, ("major", "Partial System Outage")),
        ([DEG, OP, OP, OP, OP], [], False, ("minor", "Partially Degraded Service")),
        ([MAJ, OP, OP], [], False, ("critical", "Major System Outage")),
        ([MAJ, PART, DEG], [], False, ("critical", "Major System Outage")),
        # An incident on no public component has no component to tell it: its impact counts.
        ([OP, OP], ["critical"], False, ("critical", "Major System Outage")),
        ([OP, OP], ["none"], True, ("maintenance", "Service Under Maintenance")),
        ([OP, OP], ["minor"], True, ("minor", "Partially Degraded Service")),  # maintenance only if nothing worse
        ([], [], False, ("none", "All Systems Operational")),
    ],
)
def test_page_indicator_is_told_by_the_components(statuses, unplaced, maintenance, expected):
    assert (
        policy.rollup(
            component_statuses=statuses, unplaced_incident_impacts=unplaced, maintenance_in_progress=maintenance
        )
        == expected
    )


def test_an_incident_on_a_component_never_makes_the_headline_say_more_than_the_component():
    """The issue's case: a P2 (impact major) degrading one component read "Partial System Outage"."""
    assert policy.rollup(component_statuses=[DEG, OP], incident_impacts=["major"]) == (
        "minor",
        "Partially Degraded Service",
    )


def test_every_indicator_has_its_reference_description():
    assert policy.INDICATOR_DESCRIPTIONS == {
        "none": "All Systems Operational",
        "minor": "Partially Degraded Service",
        "major": "Partial System Outage",
        "critical": "Major System Outage",
        "maintenance": "Service Under Maintenance",
    }


def test_maintenance_status_mapping():
    assert page_policy.maintenance_status(window_status="draft", closed=False) is None
    assert page_policy.maintenance_status(window_status="scheduled", closed=False) == "scheduled"
    assert page_policy.maintenance_status(window_status="in_progress", closed=False) == "in_progress"
    # The "after" checklist is internal follow-up: completed is completed, open checklist or not.
    assert page_policy.maintenance_status(window_status="completed", closed=False) == "completed"
    assert page_policy.maintenance_status(window_status="completed", closed=True) == "completed"
    assert page_policy.maintenance_status(window_status="cancelled", closed=False) == "completed"


def test_update_transitions_follow_the_public_timeline():
    assert page_policy.update_component_transitions(["investigating", "monitoring", "resolved"], PART) == [
        (OP, PART),
        (PART, PART),
        (PART, OP),
    ]


# --- through the API -----------------------------------------------------------------------------------------


@pytest.fixture
def three_components(db):
    at = utc(2025, 1, 1)
    return [make_component(at=at, name=name, position=i) for i, name in enumerate(("API", "Database", "Website"))]


def open_incident(*, components, level="P4", public=True, resolved=False):
    t = utc(2026, 5, 4, 10, 0)
    incident = Incident.objects.create(
        title="Trouble",
        level=level,
        status="resolved" if resolved else "investigating",
        opened_at=t,
        response_due_at=t + timedelta(hours=1),
        resolved_at=t + timedelta(minutes=30) if resolved else None,
    )
    for component, impact in components:
        IncidentComponent.objects.create(incident=incident, component=component, impact=impact)
    IncidentUpdate.objects.create(
        incident=incident, status="investigating", body="Looking.", public=public, created_at=t
    )
    return incident


def summary(client):
    return json.loads(client.get("/api/v2/summary.json").content)


def test_unresolved_incident_impacts_set_component_status_and_resolution_clears_them(client, three_components):
    api, db, web = three_components
    incident = open_incident(components=[(api, PART), (db, DEG)])
    data = summary(client)
    assert [c["status"] for c in data["components"]] == [PART, DEG, OP]
    assert data["status"]["indicator"] == "major"  # 1 partial of 3 → minor, but the incident's impact is major
    incident.status, incident.resolved_at = "resolved", utc(2026, 5, 4, 11)
    incident.save()
    IncidentUpdate.objects.create(incident=incident, status="resolved", body="Fixed.", created_at=utc(2026, 5, 4, 11))
    data = summary(client)
    assert [c["status"] for c in data["components"]] == [OP, OP, OP]
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == []


def test_incident_without_public_update_moves_components_but_is_not_listed(client, three_components):
    api, _, _ = three_components
    open_incident(components=[(api, DEG)], public=False)
    data = summary(client)
    assert data["components"][0]["status"] == DEG
    assert data["incidents"] == []
    assert data["status"]["indicator"] == "minor"


def test_in_progress_window_puts_its_components_under_maintenance(client, three_components):
    api, db, web = three_components
    window = MaintenanceWindow.objects.create(
        title="Upgrade",
        status="in_progress",
        planned_start=utc(2026, 5, 4, 10),
        planned_end=utc(2026, 5, 4, 11),
        actual_start=utc(2026, 5, 4, 10),
        announced_at=utc(2026, 5, 1),
        impact="x",
        reason="y",
    )
    window.components.set([db])
    data = summary(client)
    assert [c["status"] for c in data["components"]] == [OP, UM, OP]
    assert data["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    window.status, window.actual_end = "completed", utc(2026, 5, 4, 10, 45)
    window.save()
    data = summary(client)
    assert [c["status"] for c in data["components"]] == [OP, OP, OP]
    assert data["status"]["indicator"] == "none"
    assert data["components"][1]["updated_at"] == "2026-05-04T10:45:00.000Z"  # back to operational at the end
