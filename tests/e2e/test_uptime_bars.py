"""The uptime bars in a real browser: a real incident's impact is recorded after its commit, today's bar
turns to the outage's colour, a hover shows the day in words, and the page reads the same without JavaScript
(and without a CSP violation: the session fixture fails the test on any)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from incidents.choices import Impact, Level
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_todays_bar_shows_a_real_incident_and_its_words_on_hover(session_for, browser, live_server):
    api = ComponentFactory(name="API")
    open_incident(
        level=Level.P1,
        title="API is down",
        components={api: Impact.MAJOR_OUTAGE},
        message="We are investigating errors on the API.",  # public: an incident nobody announced is not listed
    )

    public = session_for("public")
    page = public.goto("/")
    row = page.locator(".uptime-row", has=page.locator("h3", has_text="API"))
    bars = row.locator("ol.bars > li")
    expect(bars).to_have_count(90)
    today = bars.last
    expect(today).to_have_class("bar b-major_outage")
    tip = today.locator(".tip")
    assert tip.bounding_box()["width"] <= 1  # visually hidden (a screen reader still reads it) …
    today.hover()
    expect(tip).to_be_visible()
    assert tip.bounding_box()["width"] > 100  # … shown as a tooltip on hover
    expect(tip).to_contain_text("(today, so far)")
    expect(tip).to_contain_text("Incidents: API is down.")
    public.shot("today's bar is red and says why")

    context = browser.new_context(java_script_enabled=False)
    try:
        bare = context.new_page()
        bare.goto(live_server.url + "/")
        expect(bare.locator(".uptime-row ol.bars > li")).to_have_count(90)
        expect(bare.locator("#uptime-heading")).to_have_text("Uptime, last 90 days")
    finally:
        context.close()
