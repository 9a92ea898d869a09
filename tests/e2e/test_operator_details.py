"""Smaller things an operator notices (issue 14, points 12–16), in the browser through the real admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ersen_ops.audit.services import record
from incidents import services
from incidents.choices import Impact, Level
from tests.e2e.conftest import OPERATOR_ZONE
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_browser_finds_the_favicon_on_admin_and_public_pages(session_for, users):
    visitor = session_for("operator")
    for path in ("/admin/login/", "/"):
        page = visitor.goto(path)
        hrefs = page.eval_on_selector_all("link[rel=icon]", "links => links.map(l => l.href)")
        assert len(hrefs) == 2, path
        for href in hrefs:
            response = page.request.get(href)
            assert response.ok and response.headers["content-type"].startswith("image/"), href
    assert visitor.page.request.get(visitor.url("/favicon.ico")).headers["content-type"] == "image/x-icon"


def test_incidents_list_open_by_default_urgency_colours_and_impact_in_words(session_for, users):
    now = timezone.now()
    api = ComponentFactory(name="API")
    commander = users["commander"]
    open_incident(
        level=Level.P3,
        title="Export button broken",
        actor=commander,
        now=now - timedelta(hours=1),
        components={api: Impact.DEGRADED_PERFORMANCE},
    )
    open_incident(level=Level.P4, title="Typo in footer", actor=commander, components={})
    done = open_incident(level=Level.P2, title="Login errors", actor=commander, components={})
    services.incident_resolve(actor=commander, incident=done, body="Fixed.")

    viewer = session_for("viewer")
    page = viewer.login("viewer")
    page.goto(viewer.url("/admin/incidents/incident/"))
    expect(page.locator("h1")).to_have_text("Open incidents")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).not_to_contain_text("Login errors")

    p3 = rows.filter(has_text="Export button broken")
    p4 = rows.filter(has_text="Typo in footer")
    expect(p3.locator(".ops-countdown")).to_have_class(re.compile(r"\bdue-within-day\b"))
    expect(p4.locator(".ops-countdown")).to_have_class(re.compile(r"\bdue-later\b"))
    page.wait_for_timeout(1200)  # a tick of live.js keeps the class the time left calls for
    expect(p3.locator(".ops-countdown")).to_have_class(re.compile(r"\bdue-within-day\b"))
    colour = "el => getComputedStyle(el).color"
    assert p3.locator(".ops-countdown").evaluate(colour) != p4.locator(".ops-countdown").evaluate(colour)
    expect(p3.locator("td.field-components_col")).to_have_text("API Degraded performance")
    viewer.shot("incidents list, open by default")

    page.click("#show-all-incidents")
    expect(page.locator("h1")).to_have_text("Incidents")
    expect(rows).to_have_count(3)
    expect(page.locator("#result_list")).to_contain_text("Login errors")


def test_control_room_shows_peoples_actions_with_a_toggle_and_the_audit_log_filters_by_actor_kind(session_for, users):
    record(actor=users["operator"], action="window.scheduled")
    for n in range(25):  # what seeding leaves: many notification events after the last human action
        record(actor="system:notifications", action="delivery.sent", data={"n": n})

    admin = session_for("admin")
    page = admin.login("admin")
    audit = page.locator("#cr-audit")
    expect(audit.locator("h2")).to_contain_text("by people")
    expect(audit.locator("tbody")).to_contain_text("window.scheduled")
    expect(audit.locator("tbody")).not_to_contain_text("delivery.sent")
    admin.shot("control room, people's actions")

    page.click("#cr-audit-system")
    expect(audit.locator("tbody tr")).to_have_count(20)
    expect(audit.locator("tbody")).to_contain_text("delivery.sent")
    page.click("#cr-audit-people")
    expect(audit.locator("tbody")).not_to_contain_text("delivery.sent")

    page.goto(admin.url("/admin/audit/auditevent/"))
    page.click("#changelist-filter a:text-is('People')")
    expect(page.locator("#result_list")).to_contain_text("window.scheduled")  # and the admin's own login
    expect(page.locator("#result_list")).not_to_contain_text("delivery.sent")
    page.click("#changelist-filter a:text-is('System')")
    expect(page.locator("#result_list tbody tr")).to_have_count(25)
    admin.shot("audit log filtered by actor kind")


def test_open_message_due_time_final_state_wording_and_one_time_for_a_pacific_viewer(
    session_for, users, browser, live_server
):
    ComponentFactory(name="API")
    commander = session_for("commander")
    page = commander.login("commander")
    page.goto(commander.url("/admin/incidents/incident/open/"))
    page.fill("#id_title", "Checkout fails")
    page.check("input[name=level][value=P3]")
    page.fill("#id_message", "We are looking into failed checkouts.")
    page.click("input[type=submit][value='Open incident']")
    message = page.locator(".messagelist").inner_text()
    assert re.search(r"response due (\w{3} \d+ \w{3} )?\d\d:\d\d CET · (\w{3} \d+ \w{3} )?\d\d:\d\d PST\.", message), (
        message
    )
    assert "UTC" not in message

    page.click("#workflow-actions a[data-action=resolve]")
    page.fill("#id_body", "Fixed.")
    page.click("input[type=submit][value='Confirm: Resolve']")
    expect(page.locator("#why-resolve")).to_have_text("Resolve is no longer possible: The incident is resolved.")
    expect(page.locator("#workflow-actions")).not_to_contain_text("not possible yet")
    commander.shot("resolved incident, final wording")

    def public_times(zone: str) -> tuple[str, str]:
        context = browser.new_context(timezone_id=zone)
        try:
            public = context.new_page()
            public.goto(live_server.url + "/")
            first = public.locator("time[data-local]").first
            expect(first).not_to_contain_text("UTC")  # the script has shown it in the viewer's zone
            return first.evaluate("t => t.parentElement.innerText"), public.locator("footer").inner_text()
        finally:
            context.close()

    line, footer = public_times("America/Los_Angeles")
    assert line.count("PST") == 1, line  # "Tue, 1 Dec 2026, 11:17 AM PST", not "… PST (Tue 11:17 PST)"
    assert "in brackets" not in footer
    line, footer = public_times(OPERATOR_ZONE)
    assert re.search(r"(CET|GMT\+1) \(\w{3} \d\d:\d\d PST\)", line), line  # Berlin, and Pacific beside
    assert "with Pacific time (America/Los_Angeles) in brackets" in footer
