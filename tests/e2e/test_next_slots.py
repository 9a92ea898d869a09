"""Issue 14 point 3, in a real browser: the next valid slots offered pass the same check as scheduling.

The issue's case: "Use this slot" offered Thu 02:00 PST although "Deploy release 2.4" holds Website then, so
saving was refused — and the same slot was offered again, on the window's page and on the Schedule page.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from maintenance import policy
from maintenance import services as maintenance_services
from maintenance.choices import MaintenanceType, WindowStatus
from maintenance.models import MaintenanceWindow
from tests.e2e.test_flows import window_url
from tests.factories import ComponentFactory
from tests.maintenance.factories import MaintenanceWindowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def postlaunch(transactional_db):
    from ersen_ops.core.choices import Phase
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def test_a_slot_taken_on_the_windows_component_is_never_offered(session_for, users, postlaunch, live_server):
    website = ComponentFactory(name="Website")
    slot_start, _ = policy.next_routine_slots(timezone.now() + timedelta(hours=25), 1)[0]
    release = MaintenanceWindowFactory(
        title="Deploy release 2.4",
        type=MaintenanceType.ROUTINE,
        planned_start=slot_start,
        planned_end=slot_start + timedelta(hours=1),
        owner=users["operator"],
        on_call_engineer=users["approver"],
        components=[website],
    )
    maintenance_services.window_schedule(actor=users["operator"], window=release)
    draft = MaintenanceWindowFactory(
        title="Deploy release 2.5",
        type=MaintenanceType.ROUTINE,
        planned_start=slot_start + timedelta(hours=8),  # 10:00 Pacific: outside any slot
        planned_end=slot_start + timedelta(hours=9),
        owner=users["operator"],
        on_call_engineer=users["approver"],
        components=[website],
    )
    taken = policy.fmt_local_range(slot_start, slot_start + timedelta(hours=1))
    rest = policy.fmt_local_range(slot_start + timedelta(hours=1), slot_start + timedelta(hours=2))

    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(window_url(draft)))
    slots = page.locator("#maintenance-next-slots li")
    expect(slots).to_have_count(4)
    expect(slots.first).to_contain_text(rest)  # the rest of the partly taken slot fits the hour
    for text in slots.all_inner_texts():
        assert taken not in text
    operator.shot("next slots skip the one Deploy release 2.4 holds")

    page.locator("button.use-slot").first.click()
    page.click("input[name=_continue]")
    expect(page.locator("#maintenance-policy")).to_contain_text("The protocol allows scheduling this window now.")
    draft.refresh_from_db()
    assert draft.planned_start == slot_start + timedelta(hours=1)

    page.click("#workflow-actions a[data-action=schedule]")
    offered = page.locator("#schedule-next-slots")
    expect(offered).to_contain_text(rest)
    assert taken not in offered.inner_text()
    operator.shot("schedule page offers the same valid slots")
    page.click("input[type=submit][value='Confirm: Schedule']")
    expect(page.locator("#window-strip")).to_contain_text("Scheduled")
    assert MaintenanceWindow.objects.get(pk=draft.pk).status == WindowStatus.SCHEDULED
