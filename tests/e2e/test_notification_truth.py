"""Issue 14 point 1, in a real browser: what the admin says about notifications is what the deliveries say.

Nothing is configured here (no pager, no Slack, no email recipients): opening a P1 must not claim the pager was
triggered, the Response panel must not claim a pager alert is open, and a window's messages and summary say
which channels were skipped.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from maintenance import services as maintenance_services
from maintenance.choices import ChecklistPhase
from tests.e2e.test_flows import approve_open_items, scheduled_window, window_url
from tests.factories import ComponentFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def nothing_configured(settings, postlaunch):
    settings.PAGER_WEBHOOK_URL = settings.PAGER_ROUTING_KEY = ""
    settings.SLACK_WEBHOOK_URL = settings.SLACK_TEAM_OPS_WEBHOOK_URL = settings.DISCORD_WEBHOOK_URL = ""
    settings.OPS_EMAIL_TO = []


@pytest.fixture
def postlaunch(transactional_db):
    from ersen_ops.core.choices import Phase
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def test_a_p1_with_no_pager_configured_says_nobody_was_paged(session_for, users, nothing_configured, live_server):
    ComponentFactory(name="API")
    commander = session_for("commander")
    page = commander.login("commander")
    # Point 2: the control room says so at the top, before anyone opens a P1.
    gaps = page.locator("#cr-channels")
    expect(gaps.locator("li[data-channel=pager]")).to_contain_text("Pager — not configured (set PAGER_WEBHOOK_URL")
    expect(gaps.locator("li[data-channel=pager]")).to_contain_text("P1 incidents (the immediate page)")
    expect(page.locator("#cr-headline")).to_contain_text("Pager not configured")
    commander.shot("control room warns that P1s page nobody", full_page=False)
    page.click("text=Open an incident")
    page.fill("#id_title", "Checkout fails for every customer")
    page.check("input[name=level][value=P1]")
    page.click("input[type=submit][value='Open incident']")

    message = page.locator(".messagelist li")
    expect(message).to_have_class("warning")
    expect(message).to_contain_text("Pager: not sent — not configured (set PAGER_WEBHOOK_URL and PAGER_ROUTING_KEY)")
    expect(message).to_contain_text("Slack (alerts): not sent — not configured (set SLACK_WEBHOOK_URL)")
    assert "triggered" not in message.inner_text()
    pages = page.locator(".incident-pages")
    expect(pages).to_contain_text("1 page")
    expect(pages).to_contain_text("not sent — not configured")
    expect(pages).to_contain_text("no pager alert is open")
    expect(page.locator(".delivery-outcome").first).to_contain_text("not sent — not configured")
    commander.shot("P1 opened with nothing configured")

    page.click("#workflow-actions a[data-action=acknowledge]")
    expect(page.locator(".workflow-description")).to_contain_text("it will be skipped")


def test_window_messages_and_summary_name_the_skipped_channels(session_for, users, nothing_configured, live_server):
    database = ComponentFactory(name="Database")
    window = scheduled_window(users, components=[database], title="Security patch", starts_in=timedelta(minutes=-1))
    approve_open_items(window, ChecklistPhase.BEFORE, users["approver"])
    maintenance_services.window_start(actor=users["operator"], window=window)
    approve_open_items(window, ChecklistPhase.DURING, users["approver"])

    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(window_url(window)))
    page.click("#workflow-actions a[data-action=complete]")
    description = page.locator(".workflow-description")
    expect(description).to_contain_text("Email (not configured: set OPS_EMAIL_TO — it will be skipped)")
    expect(description).to_contain_text("Slack #team-ops (not configured: set SLACK_TEAM_OPS_WEBHOOK_URL")
    page.click("input[type=submit][value='Confirm: Complete']")
    message = page.locator(".messagelist li")
    expect(message).to_have_class("warning")
    expect(message).to_contain_text("Status page: queued")
    expect(message).to_contain_text("Slack #team-ops: not sent — not configured (set SLACK_TEAM_OPS_WEBHOOK_URL)")
    expect(page.locator(".summary-outcome")).to_contain_text("Slack #team-ops: not sent — not configured")
    operator.shot("completed; summary not sent")
