"""A tour of the admin with the demo data (`make run`'s), in the browser: the pages a newcomer sees first.

Its screenshots (test-artifacts/e2e/tour_…) are the ones in docs/ and the README.
"""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.utils import timezone
from django.utils.module_loading import import_string, module_has_submodule
from playwright.sync_api import expect

from maintenance.models import MaintenanceWindow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def seed_demo_data():
    """Every app's demo.py, as `manage.py seed_demo` runs them (without touching .demo-credentials)."""
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "demo"):
            import_string(f"{config.name}.demo.seed")(io.StringIO())


def test_tour_of_the_admin_with_the_demo_data(session_for, users, live_server):
    seed_demo_data()
    operator = session_for("operator")
    page = operator.login("operator")
    page.set_viewport_size({"width": 1280, "height": 1100})

    room = page.locator("#control-room")
    expect(room.locator("#cr-status .cr-indicator")).not_to_be_empty()
    expect(room.locator("#cr-in-progress")).to_contain_text("overdue by")  # the demo emergency runs late
    expect(room.locator("#cr-incidents")).to_contain_text("P2")
    expect(room.locator("#cr-upcoming")).to_contain_text("Deploy release 2.4")
    expect(room.locator("#cr-audit tbody tr")).to_have_count(20)
    operator.shot("control room", full_page=False)

    page.click("text=Maintenance calendar")
    expect(page.locator("#maintenance-calendar .cal-entry").first).to_be_visible()
    today = timezone.localtime(timezone.now(), timezone.get_fixed_timezone(-8 * 60)).date()
    assert page.locator(f"td[data-date='{today.isoformat()}'], td.today").count() >= 1
    operator.shot("maintenance calendar", full_page=False)

    late = MaintenanceWindow.objects.get(status="in_progress")
    page.goto(operator.url(f"/admin/maintenance/maintenancewindow/{late.pk}/change/"))
    expect(page.locator("#window-strip")).to_contain_text("overdue by")
    expect(page.locator("#workflow-actions a[data-action=update_eta]")).to_be_visible()
    operator.shot("window running late", full_page=False)
