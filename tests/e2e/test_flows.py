"""The five operator flows of issue 8, in a real browser (headless Chromium) against the live server, with a
real qcluster worker and the sshd sandbox host where the flow needs them. Each step saves a screenshot under
test-artifacts/e2e/<flow>/.

1. An operator plans a routine window at an invalid time, sees the policy error and the next valid slots,
   picks one, schedules it; the announcement preview is the seed's template; the announcement goes out
   (queued → sent, without a reload).
2. An approver approves the "before" items; the operator's Start is refused while any is missing and works
   once all are approved; the public status page then shows the component under maintenance.
3. From the window, the operator runs "Database backup" on the sandbox SSH host and watches the output arrive
   live until success; the backup item shows the execution as evidence.
4. The operator completes the window; the public status page shows Operational.
5. An incident commander opens a P1, sees the SLA countdown, acknowledges, posts a public update, resolves;
   the public status page shows the update.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from maintenance import services as maintenance_services
from maintenance.choices import ChecklistPhase, MaintenanceType, WindowStatus
from maintenance.models import ChecklistItem, MaintenanceWindow
from tests.e2e.conftest import OPERATOR_ZONE
from tests.factories import ComponentFactory
from tests.maintenance.factories import MaintenanceWindowFactory
from tests.runbooks.factories import runbook_with_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEED_TEMPLATE = re.compile(
    r"^## Scheduled Maintenance\n\n"
    r"\*\*When\*\*: \w+day, \w+ \d{1,2}, \d{4} \d\d:\d\d-\d\d:\d\d P[SD]T\n"
    r"\*\*Duration\*\*: ~\d+ minutes\n"
    r"\*\*Impact\*\*: .+\n"
    r"\*\*Reason\*\*: .+\n\n"
    r"We'll update this page when complete\.$"
)


@pytest.fixture
def postlaunch(transactional_db):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


def window_url(window) -> str:
    return f"/admin/maintenance/maintenancewindow/{window.pk}/change/"


def component_state(page, name: str):
    return page.locator("li.component", has=page.locator("span", has_text=re.compile(rf"^{name}$"))).locator(".state")


def scheduled_window(users, *, components, type=MaintenanceType.URGENT, starts_in=timedelta(minutes=-1), **kwargs):
    """An (urgent) window scheduled under the post-launch rules: by default announced 5 h ago and due now."""
    now = timezone.now()
    start = now + starts_in
    window = MaintenanceWindowFactory(
        type=type,
        planned_start=start,
        planned_end=start + timedelta(minutes=45),
        owner=users["operator"],
        on_call_engineer=users["approver"],
        components=components,
        **kwargs,
    )
    announced = min(now, start - timedelta(hours=5))
    return maintenance_services.window_schedule(actor=users["operator"], window=window, now=announced)


def approve_open_items(window, phase, approver):
    for item in ChecklistItem.objects.filter(window=window, phase=phase, done_at__isnull=True):
        maintenance_services.checklist_approve(
            actor=approver, item=item, note="Checked.", evidence_url="https://ops.example/evidence"
        )


# --- 1 -------------------------------------------------------------------------------------------------------


def test_flow_1_plan_a_routine_window_pick_a_valid_slot_and_schedule_it(
    session_for, users, postlaunch, worker, live_server
):
    ComponentFactory(name="Database")
    ComponentFactory(name="API")
    operator = session_for("operator")
    page = operator.login("operator")
    operator.shot("control room")

    page.click("text=Plan a maintenance window")
    # Two hours from now, in the browser's zone: inside no routine slot, and far short of 24 h notice.
    local = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(OPERATOR_ZONE)).replace(minute=0, second=0)
    start, end = local + timedelta(hours=2), local + timedelta(hours=3)
    page.fill("#id_title", "Deploy release 2.5")
    page.select_option("#id_type", "routine")
    page.fill("#id_planned_start_0", f"{start:%Y-%m-%d}")
    page.fill("#id_planned_start_1", f"{start:%H:%M:%S}")
    page.fill("#id_planned_end_0", f"{end:%Y-%m-%d}")
    page.fill("#id_planned_end_1", f"{end:%H:%M:%S}")
    page.select_option("#id_components_from", label="Database")
    page.click("#id_components_add")
    page.fill("#id_impact", "The dashboard is read-only for up to an hour; widgets keep serving.")
    page.fill("#id_reason", "Release 2.5: faster search and a database migration.")
    page.fill("#id_rollback_plan", "Redeploy 2.4 and restore the pre-maintenance backup.")
    page.select_option("#id_on_call_engineer", label="approver")
    operator.shot("new window at an invalid time")
    page.click("input[name=_save]")

    # The draft's page: the protocol refuses this time, and offers the next valid slots.
    policy_panel = page.locator("#maintenance-policy")
    expect(policy_panel).to_contain_text("Routine maintenance needs 24 h notice")
    expect(policy_panel).to_contain_text("02:00–04:00")
    slots = page.locator("#maintenance-next-slots li")
    expect(slots).to_have_count(4)
    operator.shot("policy error and next valid slots")

    page.locator("button.use-slot").first.click()
    expect(page.locator("#slot-picked")).to_be_visible()
    page.click("input[name=_continue]")
    expect(page.locator("#maintenance-policy")).to_contain_text("The protocol allows scheduling this window now.")
    window = MaintenanceWindow.objects.get(title="Deploy release 2.5")
    pacific = timezone.localtime(window.planned_start, zoneinfo.ZoneInfo("America/Los_Angeles"))
    assert pacific.weekday() in (1, 3) and pacific.hour == 2 and window.planned_duration == timedelta(hours=1)
    operator.shot("slot picked, protocol satisfied")

    page.click("#workflow-actions a[data-action=schedule]")
    preview = page.locator("pre.announcement").inner_text()
    assert SEED_TEMPLATE.match(preview), preview
    assert "**Impact**: The dashboard is read-only for up to an hour; widgets keep serving." in preview
    assert f"{pacific:%A, %B} {pacific.day}, {pacific:%Y 02:00-03:00 %Z}" in preview
    operator.shot("schedule confirmation with the announcement preview")
    page.click("input[type=submit][value='Confirm: Schedule']")

    expect(page.locator(".messagelist")).to_contain_text("The on-call engineer approver is asked by email to confirm.")
    # the announcement, and the email asking the on-call engineer to confirm
    expect(page.locator(".messagelist")).to_contain_text("Notifications: Status page: queued; Email: queued.")
    expect(page.locator("#window-strip")).to_contain_text("Scheduled")
    window.refresh_from_db()
    assert window.status == WindowStatus.SCHEDULED and window.announcement == preview
    # The status-page announcement: queued when the page was drawn, sent by the worker — seen without a reload.
    delivery_row = page.locator("table.notification-deliveries tr[data-delivery]").first
    expect(delivery_row).to_have_attribute("data-status", "sent", timeout=30_000)
    expect(delivery_row.locator(".delivery-status")).to_have_text("Sent")
    operator.shot("scheduled; the announcement was sent")

    public = session_for("public")
    public.goto("/")
    expect(public.page.locator("#upcoming-heading + *")).to_contain_text("Deploy release 2.5")
    public.shot("public status page lists the upcoming window")


# --- 2 -------------------------------------------------------------------------------------------------------


def test_flow_2_approvals_gate_the_start_and_the_status_page_follows(session_for, users, postlaunch, live_server):
    database = ComponentFactory(name="Database")
    ComponentFactory(name="API")
    window = scheduled_window(users, components=[database], title="Security patch for the database host")

    operator = session_for("operator")
    op = operator.login("operator")
    operator.shot("control room shows the window due to start")
    op.goto(operator.url(window_url(window)))
    start = op.locator("#workflow-actions [data-action=start]")
    expect(start).to_have_attribute("aria-disabled", "true")
    expect(op.locator("#why-start")).to_contain_text("Cannot start: 3 “before” item(s) not done")
    operator.shot("start refused while before items are missing", full_page=False)

    approver = session_for("approver")
    ap = approver.login("approver")
    ap.goto(approver.url(window_url(window)))
    approver.shot("window with open before items")
    for n in range(2):
        ap.locator("#maintenance-checklists [data-phase=before] a.approve-button").first.click()
        ap.fill("#id_note", f"Checked ({n + 1}/2).")
        ap.fill("#id_evidence_url", "https://ops.example/runbook/backup-listing")
        if n == 0:
            approver.shot("approval confirmation")
        ap.click("input[type=submit][value^='Confirm']")
        expect(ap.locator(".messagelist")).to_contain_text("Approved")
        # still refused with the remaining items named
        op.reload()
        expect(op.locator("#why-start")).to_contain_text(f"{2 - n} “before” item(s) not done")
    # The approver is also the window's on-call engineer: confirming that is their own action, on their page.
    ap.locator("#maintenance-checklists [data-phase=before] a.confirm-on-call-button").click()
    ap.click("#confirm-on-call")
    expect(ap.locator(".messagelist")).to_contain_text("You confirmed being on call")
    approver.shot("every before item approved")

    op.reload()
    expect(op.locator("#workflow-actions a[data-action=start]")).to_be_visible()
    operator.shot("start enabled")
    op.click("#workflow-actions a[data-action=start]")
    expect(op.locator(".workflow-description")).to_contain_text("as Under maintenance")
    operator.shot("start confirmation says what will happen")
    op.click("input[type=submit][value='Confirm: Start']")
    expect(op.locator("#window-strip")).to_contain_text("In progress")
    operator.shot("window in progress")

    public = session_for("public")
    public.goto("/")
    expect(component_state(public.page, "Database")).to_contain_text("Under maintenance")
    expect(component_state(public.page, "API")).to_contain_text("Operational")
    expect(public.page.locator("#maintenance-now")).to_be_visible()
    public.shot("public status page shows the component under maintenance")


# --- 3 -------------------------------------------------------------------------------------------------------


def test_flow_3_run_the_database_backup_from_the_window_and_watch_it_live(
    session_for, users, postlaunch, worker, sandbox_host, sandbox, live_server
):
    runbook_with_steps("database-backup", [{"task": "backup_database"}], name="Database backup")
    database = sandbox_host.components.get()
    window = scheduled_window(users, components=[database], starts_in=timedelta(days=1), title="Deploy 2.6")
    backup_item = ChecklistItem.objects.get(window=window, key="backup_verified")
    assert backup_item.done_at is None
    sandbox.set_behaviour("docker", "sleep 4")  # a dump that takes a moment, so the output is seen arriving

    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(window_url(window)))
    operator.shot("window with its runbooks")
    page.click("#maintenance-runbooks a[data-runbook=database-backup]")
    description = page.locator(".workflow-description")
    expect(description).to_contain_text("Target: sandbox")
    expect(description).to_contain_text("pg_dump")
    # The task's parameters are a typed form showing the values this run uses; the window rule is said once.
    expect(page.locator("#id_param__verify_restore")).to_have_value("no")
    expect(page.locator("#id_param__database")).to_have_value("ersen")
    expect(page.locator(".window-rule")).to_have_count(1)
    expect(page.locator("#id_justification")).to_have_count(0)  # read-only prep of the linked window: not needed
    operator.shot("run page shows the target and the exact commands")
    page.click("input[type=submit][value='Confirm: Run']")

    # The execution page polls its output: steps appear while it runs, then it reloads as final.
    expect(page.locator("#execution-live-state")).to_contain_text("Running", timeout=30_000)
    expect(page.locator("#execution-steps tr")).not_to_have_count(1, timeout=10_000)  # steps rendered live
    expect(page.locator("#execution-steps")).to_contain_text("Dump database")
    assert page.locator("#execution-live").get_attribute("data-final") == "0", "still running: seen live"
    expect(page.locator(".field-status_column .readonly")).to_contain_text("Running")  # the page follows too
    # Everything on the page is live: Started, Worker and Heartbeat fill in while it runs (no reload) ...
    expect(page.locator(".field-started_column .readonly")).to_contain_text("UTC")
    expect(page.locator(".field-worker .readonly")).not_to_have_text("-")
    expect(page.locator(".field-heartbeat_column .readonly")).to_contain_text("UTC")
    # ... and the running step's output is open, following its tail.
    expect(page.locator("#execution-steps tr[data-status=running] details.step-stdout")).to_have_attribute("open", "")
    operator.shot("output arriving live", full_page=False)
    expect(page.locator("#execution-live")).to_have_attribute("data-final", "1", timeout=60_000)
    expect(page.locator(".field-status_column")).to_contain_text("Succeeded")
    expect(page.locator("#execution-steps")).to_contain_text("PostgreSQL database dump")
    operator.shot("backup succeeded and verified")

    page.goto(operator.url(window_url(window)))
    row = page.locator(f"#maintenance-checklists tr[data-item='{backup_item.pk}']")
    expect(row).to_contain_text("Done")
    evidence = row.locator("a.evidence-link")
    expect(evidence).to_contain_text("runbook execution #")
    expect(page.locator("#maintenance-runbooks")).to_contain_text("verified backup")
    row.scroll_into_view_if_needed()
    operator.shot("backup item approved with the execution as evidence", full_page=False)
    evidence.click()
    expect(page.locator(".field-status_column")).to_contain_text("Succeeded")


# --- 4 -------------------------------------------------------------------------------------------------------


def test_flow_4_complete_the_window_and_the_status_page_is_operational(session_for, users, postlaunch, live_server):
    database = ComponentFactory(name="Database")
    window = scheduled_window(users, components=[database], title="Security patch for the database host")
    approve_open_items(window, ChecklistPhase.BEFORE, users["approver"])
    maintenance_services.window_start(actor=users["operator"], window=window)

    public = session_for("public")
    public.goto("/")
    expect(component_state(public.page, "Database")).to_contain_text("Under maintenance")
    public.shot("during the window")

    operator = session_for("operator")
    page = operator.login("operator")
    page.goto(operator.url(window_url(window)))
    expect(page.locator("#workflow-actions [data-action=complete]")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#why-complete")).to_contain_text("“during” item(s) not done")
    operator.shot("complete refused while during items are open")

    approve_open_items(window, ChecklistPhase.DURING, users["approver"])
    page.reload()
    page.click("#workflow-actions a[data-action=complete]")
    expect(page.locator(".workflow-description")).to_contain_text("as Operational again")
    operator.shot("complete confirmation")
    page.click("input[type=submit][value='Confirm: Complete']")
    expect(page.locator("#window-strip")).to_contain_text("Completed")
    operator.shot("window completed")

    public.page.reload()
    expect(component_state(public.page, "Database")).to_contain_text("Operational")
    expect(public.page.locator("section.banner h1")).to_have_text("All Systems Operational")
    public.shot("public status page is operational again")


# --- 5 -------------------------------------------------------------------------------------------------------


def test_flow_5_incident_commander_handles_a_p1_and_the_status_page_shows_the_update(
    session_for, users, postlaunch, live_server
):
    ComponentFactory(name="API")
    ComponentFactory(name="Database")
    commander = session_for("commander")
    page = commander.login("commander")
    page.click("text=Open an incident")
    page.fill("#id_title", "Checkout fails for every customer")
    page.check("input[name=level][value=P1]")
    page.select_option("select[name^=impact_] >> nth=0", "major_outage")  # API
    page.fill("#id_message", "We are investigating failed checkouts.")
    commander.shot("open a P1")
    page.click("input[type=submit][value='Open incident']")

    countdown = page.locator(".ops-countdown").first
    expect(countdown).to_contain_text("due in 14 min")
    first = countdown.inner_text()
    page.wait_for_timeout(1500)
    assert countdown.inner_text() != first, "the SLA countdown ticks"
    commander.shot("P1 opened with the SLA countdown", full_page=False)

    page.click("#workflow-actions a[data-action=acknowledge]")
    commander.shot("acknowledge confirmation")
    page.click("input[type=submit][value='Confirm: Acknowledge']")
    expect(page.locator(".messagelist")).to_contain_text("cknowledged")
    expect(page.locator(".field-summary")).to_contain_text("acknowledged after")

    page.click("#workflow-actions a[data-action=post_update]")
    page.select_option("#id_status", "identified")
    page.fill("#id_body", "A bad payment-provider certificate; rolling it back now.")
    commander.shot("public update")
    page.click("input[type=submit][value='Confirm: Post update']")
    expect(page.locator(".messagelist")).to_contain_text("published on the status page")

    public = session_for("public")
    public.goto("/")
    expect(public.page.locator("#active-incidents + *")).to_contain_text("rolling it back now")
    expect(component_state(public.page, "API")).to_contain_text("Major outage")
    public.shot("status page shows the update")

    page.click("#workflow-actions a[data-action=resolve]")
    page.fill("#id_body", "Checkout works again; the certificate is rolled back.")
    page.click("input[type=submit][value='Confirm: Resolve']")
    expect(page.locator(".messagelist")).to_contain_text("Resolved")
    commander.shot("incident resolved")

    public.page.reload()
    expect(component_state(public.page, "API")).to_contain_text("Operational")
    incident_link = public.page.locator("a", has_text="Checkout fails for every customer").first
    incident_link.click()
    expect(public.page.locator("body")).to_contain_text("rolling it back now")
    expect(public.page.locator("body")).to_contain_text("Checkout works again")
    public.shot("public incident page with every public update")
