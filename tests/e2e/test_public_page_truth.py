"""Issue 14 point 4, in a real browser: the public page tells one consistent story.

- A window completed days ago whose internal "after" checklist is still open is completed on the page, in the
  API and in the feeds — never "Maintenance in progress — Verifying".
- The headline is told by the components: a P2 (impact "major") that degrades one component reads "Partially
  Degraded Service", as the component does — not "Partial System Outage".
- Components come first, right under the headline.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from incidents.choices import Impact, Level
from maintenance import services as maintenance_services
from maintenance.choices import ChecklistPhase, WindowStatus
from tests.e2e.test_flows import approve_open_items, component_state, scheduled_window
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def postlaunch(transactional_db):
    from ersen_ops.core.choices import Phase
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def test_the_public_page_tells_one_consistent_story(session_for, users, postlaunch, live_server, client):
    database = ComponentFactory(name="Database")
    api = ComponentFactory(name="API")
    window = scheduled_window(users, components=[database], title="Security patch", starts_in=timedelta(days=-3))
    approve_open_items(window, ChecklistPhase.BEFORE, users["approver"])
    started = window.planned_start + timedelta(minutes=1)
    maintenance_services.window_start(actor=users["operator"], window=window, now=started)
    approve_open_items(window, ChecklistPhase.DURING, users["approver"])
    maintenance_services.window_complete(actor=users["operator"], window=window, now=started + timedelta(minutes=40))
    window.refresh_from_db()
    assert window.status == WindowStatus.COMPLETED and window.closed_at is None  # "after" items still open
    open_incident(level=Level.P2, title="Slow API responses", components={api: Impact.DEGRADED_PERFORMANCE})

    public = session_for("public")
    page = public.goto("/")
    expect(page.locator("section.banner h1")).to_have_text("Partially Degraded Service")
    expect(component_state(page, "API")).to_contain_text("Degraded performance")
    expect(component_state(page, "Database")).to_contain_text("Operational")
    assert page.locator("#maintenance-now").count() == 0, "a completed window is not in progress"
    assert "Verifying" not in page.locator("main").inner_text()
    sections = page.locator("main section h2").all_inner_texts()
    assert sections[0] == "Components", sections
    expect(page.locator("section[aria-labelledby=history-heading]")).to_contain_text("Security patch")
    public.shot("headline and components agree; the completed window is history")

    maintenances = json.loads(client.get("/api/v2/scheduled-maintenances.json").content)["scheduled_maintenances"]
    assert [(m["name"], m["status"]) for m in maintenances] == [("Security patch", "completed")]
    assert json.loads(client.get("/api/v2/scheduled-maintenances/active.json").content)["scheduled_maintenances"] == []
    status = json.loads(client.get("/api/v2/status.json").content)["status"]
    assert status == {"indicator": "minor", "description": "Partially Degraded Service"}
