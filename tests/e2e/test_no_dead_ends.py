"""Issue 14, "No dead ends", in a real browser through the real admin:

6. the on-call engineer (an incident commander, no Approvers role) follows the link in the email that asks them
   and confirms their own availability; a draft without an on-call engineer says who is missing;
7. the Approve page offers only what this approver can approve now, each item with its requirement beside it;
   the checklist shows a disabled button with the reason where they cannot;
8. a draft's protocol refusal is written out once (the Protocol check), the button and the strip point to it;
11. names of owners and on-call engineers link to their windows, which the viewer may see — never the user admin.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.models import NotificationDelivery
from maintenance import services
from maintenance.choices import ItemKey, MaintenanceType
from maintenance.models import ChecklistItem
from tests.factories import ComponentFactory
from tests.maintenance.factories import MaintenanceWindowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def postlaunch(transactional_db):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def window_url(window) -> str:
    return f"/admin/maintenance/maintenancewindow/{window.pk}/change/"


def scheduled(users, **kwargs):
    start = timezone.now() + timedelta(hours=6)
    window = MaintenanceWindowFactory(
        type=MaintenanceType.URGENT,
        planned_start=start,
        planned_end=start + timedelta(minutes=45),
        owner=users["operator"],
        components=[ComponentFactory(name="Database")],
        **kwargs,
    )
    return services.window_schedule(actor=users["operator"], window=window)


def test_on_call_commander_confirms_from_the_email_link(session_for, users, postlaunch, live_server, settings):
    settings.OPS_STATUS_PAGE_URL = live_server.url
    window = scheduled(users, on_call_engineer=users["commander"], title="Rotate the database certificates")
    email = NotificationDelivery.objects.get(event="maintenance.on_call_requested")
    link = re.search(r"http://\S+/on-call/", email.body).group(0)

    commander = session_for("commander")
    page = commander.login("commander")
    page.goto(link)
    expect(page.locator(".on-call-page")).to_contain_text("Rotate the database certificates")
    commander.shot("the page the email links to")
    page.fill("#id_note", "On my phone all night")
    page.click("#confirm-on-call")
    expect(page.locator(".messagelist")).to_contain_text("You confirmed being on call")
    row = page.locator(f"#maintenance-checklists tr[data-item='{_item(window, ItemKey.ON_CALL_CONFIRMED).pk}']")
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text("Confirmed by the on-call engineer commander")
    commander.shot("confirmed: the checklist item is done")


def test_draft_without_on_call_says_who_is_missing_once(session_for, users, postlaunch, live_server):
    start = timezone.now() + timedelta(hours=2)  # routine: short of 24 h notice, outside the slot
    window = MaintenanceWindowFactory(
        title="Deploy release 2.7",
        planned_start=start,
        planned_end=start + timedelta(hours=1),
        owner=users["operator"],
        on_call_engineer=None,
        components=[ComponentFactory(name="Database")],
    )
    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(window_url(window)))
    panel = page.locator("#maintenance-policy")
    expect(panel).to_contain_text("Name the window's on-call engineer")
    expect(panel).to_contain_text("Routine maintenance needs 24 h notice")
    # Said once: the button and the strip point to the Protocol check instead of repeating it.
    text = page.locator("#content").inner_text()
    assert text.count("Routine maintenance needs 24 h notice") == 1, text
    assert text.count("Name the window's on-call engineer") == 1, text
    expect(page.locator("#why-schedule")).to_contain_text("see “Protocol check” below")
    expect(page.locator("#why-schedule")).to_contain_text("people missing")
    expect(page.locator("#window-strip-protocol")).to_contain_text("listed in Protocol check below")
    operator.shot("the protocol check says it once")


def test_approve_page_offers_only_what_this_approver_can_approve_now(session_for, users, postlaunch, live_server):
    window = scheduled(users, on_call_engineer=users["commander"], rollback_plan="")
    approver = session_for("approver")
    page = approver.login("approver")
    page.goto(approver.url(window_url(window)))
    # Rollback plan empty: disabled with the reason; on-call item: the commander's own; later phases: said once.
    rollback = page.locator(f"tr[data-item='{_item(window, ItemKey.ROLLBACK_PLAN).pk}']")
    expect(rollback.locator(".item-action-disabled")).to_have_text("Approve")
    expect(rollback.locator(".approve-refusal")).to_contain_text("only once the window's rollback plan is filled in")
    on_call = page.locator(f"tr[data-item='{_item(window, ItemKey.ON_CALL_CONFIRMED).pk}']")
    expect(on_call.locator(".approve-refusal")).to_contain_text("Only the window's on-call engineer (commander)")
    expect(page.locator(".checklist-phase[data-phase=during] .phase-closed")).to_contain_text(
        "Approvable while the window is in progress (it is scheduled)"
    )
    approver.shot("checklist: what can be approved, and why not")

    backup = _item(window, ItemKey.BACKUP_VERIFIED)
    page.click(f"a.approve-button[data-item='{backup.pk}']")
    choices = page.locator("#id_item label")
    expect(choices).to_have_count(1)  # only the backup item: not done, open now, not blocked
    expect(choices.first).to_contain_text("Backup completed and verified — needs evidence")
    expect(page.locator("#id_item input[type=radio]").first).to_be_checked()
    approver.shot("approve page: one item, with its requirement")
    page.fill("#id_evidence_url", "https://backups.example/2026-12-01")
    page.click("input[type=submit][value='Confirm: Approve checklist item']")
    expect(page.locator(".messagelist")).to_contain_text("Approved “Backup completed and verified”")


def test_owner_and_on_call_names_link_to_their_windows_not_the_user_admin(session_for, users, postlaunch, live_server):
    window = scheduled(users, on_call_engineer=users["commander"], title="Patch the API hosts")
    viewer = session_for("viewer")
    page = viewer.login("viewer")
    page.goto(viewer.url(window_url(window)))
    assert page.locator("a[href*='/admin/auth/user/']").count() == 0
    owner = page.locator("#window-strip a.person", has_text="operator")
    expect(owner).to_have_attribute("href", re.compile(rf"\?person={users['operator'].pk}$"))
    viewer.shot("owner and on-call named with links")
    owner.click()
    expect(page.locator("#result_list")).to_contain_text("Patch the API hosts")
    expect(page.locator("#changelist-filter")).to_contain_text("operator")
    viewer.shot("the owner's windows")


def _item(window, key):
    return ChecklistItem.objects.get(window=window, key=key)


def test_run_page_parameters_re_render_the_commands_before_anything_runs(session_for, users, live_server):
    """Point 9: typed parameter fields with the values this run uses; changed values re-render the commands;
    a value outside the allow-list is refused on its field; the window rule is said once."""
    from runbooks.models import RunbookExecution
    from tests.runbooks.factories import HostFactory, runbook_with_steps

    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    HostFactory(
        name="db-1",
        host_key_type="ssh-ed25519",
        host_key="AAAAC3NzaC1lZDI1NTE5AAAAIBd7Yy2Y6q1rX8h9r7e9o1H0Xw4oU2mJm3nq1aVbQwzA",
        host_key_fingerprint="SHA256:pinnedpinnedpinned",
    )
    backup = runbook_with_steps("database-backup", [{"task": "backup_database"}], name="Database backup")
    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(f"/admin/runbooks/runbook/{backup.pk}/do/run/"))
    expect(page.locator("#id_param__database")).to_have_value("ersen")
    expect(page.locator(".field-param__database .help")).to_contain_text("Allowed: a PostgreSQL name")
    expect(page.locator(".window-rule")).to_have_count(1)
    expect(page.locator(".window-rule")).to_contain_text("No justification is needed.")
    page.fill("#id_param__database", "billing")
    page.select_option("#id_param__verify_restore", "yes")
    page.click("input[name=_rerender]")
    description = page.locator(".workflow-description")
    expect(description).to_contain_text("pg_dump -U ersen billing")
    expect(description).to_contain_text("Parameters you changed: database=billing, verify_restore=yes")
    expect(page.locator("#id_param__database")).to_have_value("billing")
    operator.shot("commands re-rendered for the typed values")
    page.fill("#id_param__database", "billing; rm -rf /")
    page.click("input[type=submit][value='Confirm: Run']")
    expect(page.locator(".field-param__database .errorlist")).to_contain_text("is refused — allowed: a PostgreSQL name")
    assert not RunbookExecution.objects.exists()
    operator.shot("a value outside the allow-list is refused on its field")
