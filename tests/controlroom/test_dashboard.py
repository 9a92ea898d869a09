"""The control room (admin index): every section, links to each object, both zones, permissions, bounded queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from controlroom import dashboard as dash
from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.choices import DeliveryStatus
from incidents.choices import Level
from maintenance.choices import ChecklistPhase, MaintenanceType, WindowStatus
from maintenance.models import ChecklistItem
from runbooks.choices import ExecutionStatus
from tests.factories import ComponentFactory, UserFactory
from tests.incidents.factories import open_incident
from tests.maintenance.factories import MaintenanceWindowFactory
from tests.notifications.factories import DeliveryFactory
from tests.runbooks.factories import ExecutionFactory, HostFactory, RunbookFactory

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def in_progress_window(owner, *, title="Failover", overdue=False, now=None):
    now = now or timezone.now()
    start = now - timedelta(hours=1)
    window = MaintenanceWindowFactory(
        title=title,
        type=MaintenanceType.EMERGENCY,
        status=WindowStatus.IN_PROGRESS,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
        actual_start=start,
        eta=now - timedelta(minutes=20) if overdue else now + timedelta(minutes=40),
        owner=owner,
    )
    for phase, done in ((ChecklistPhase.BEFORE, 4), (ChecklistPhase.DURING, 1), (ChecklistPhase.AFTER, 0)):
        for n in range(5 if phase == ChecklistPhase.BEFORE else 4):
            ChecklistItem.objects.create(
                window=window, phase=phase, order=n, text=f"{phase} item {n}", done_at=now if n < done else None
            )
    return window


def scheduled_window(owner, *, title="Deploy", starts_in=timedelta(days=2), before_done=5, now=None):
    now = now or timezone.now()
    start = now + starts_in
    window = MaintenanceWindowFactory(
        title=title,
        status=WindowStatus.SCHEDULED,
        planned_start=start,
        planned_end=start + timedelta(minutes=45),
        announced_at=now - timedelta(days=1),
        scheduled_phase=Phase.POSTLAUNCH,
        owner=owner,
    )
    for n in range(5):
        ChecklistItem.objects.create(
            window=window,
            phase=ChecklistPhase.BEFORE,
            order=n,
            text=f"Before item {n}",
            done_at=now if n < before_done else None,
        )
    return window


def running_execution(*, window=None, status=ExecutionStatus.RUNNING, **kwargs):
    now = timezone.now()
    runbook = RunbookFactory(name="Database backup", slug="database-backup")
    extra = {"started_at": now - timedelta(minutes=2)} if status != ExecutionStatus.QUEUED else {}
    if status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.LOST):
        extra.update(finished_at=now - timedelta(minutes=5), error="pg_dump: connection refused")
    return ExecutionFactory(runbook=runbook, host=HostFactory(), status=status, window=window, **extra, **kwargs)


def populate(n: int, users):
    """n of everything the control room lists."""
    operator = users["operator"]
    components = [ComponentFactory(name=f"Part {i}") for i in range(3)]
    for i in range(n):
        window = in_progress_window(operator, title=f"Running {i}", overdue=i % 2 == 0)
        window.components.set(components[:2])
        scheduled_window(operator, title=f"Upcoming {i}", before_done=i % 6).components.set(components[1:])
        MaintenanceWindowFactory(
            title=f"Draft {i}",
            status=WindowStatus.DRAFT,
            planned_start=timezone.now() + timedelta(hours=3 + i),
            planned_end=timezone.now() + timedelta(hours=4 + i),
            owner=operator,
        )
        open_incident(
            level=[Level.P1, Level.P2, Level.P3, Level.P4][i % 4],
            title=f"Incident {i}",
            actor=users["commander"],
            components={components[i % 3]: "partial_outage"},
        )
        running_execution(window=window)
        running_execution(status=ExecutionStatus.FAILED)
        running_execution(status=ExecutionStatus.QUEUED)
        DeliveryFactory(status=DeliveryStatus.FAILED, last_error="HTTP 404: Unknown Webhook", attempts=1)


# --- what it shows -----------------------------------------------------------------------------------------


def test_control_room_shows_what_is_happening_right_now_with_links(client, users):
    now = timezone.now()
    operator = users["operator"]
    component = ComponentFactory(name="Database")
    running = in_progress_window(operator, title="PostgreSQL failover", overdue=True, now=now)
    running.components.set([component])
    upcoming = scheduled_window(operator, title="Deploy release 2.4", before_done=3, now=now)
    draft = MaintenanceWindowFactory(
        title="Kernel patch",
        type=MaintenanceType.ROUTINE,
        status=WindowStatus.DRAFT,
        planned_start=now + timedelta(hours=5),
        planned_end=now + timedelta(hours=6),
        owner=operator,
    )
    p1 = open_incident(level=Level.P1, title="Checkout down", actor=users["commander"], now=now - timedelta(minutes=30))
    execution = running_execution(window=running)
    failed_run = running_execution(status=ExecutionStatus.FAILED)
    delivery = DeliveryFactory(status=DeliveryStatus.FAILED, subject="Deploy announced", last_error="HTTP 404")

    client.force_login(operator)
    response = client.get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()

    # public status, as the world sees it: the P1's component is down
    assert 'id="cr-status"' in html and "API" in html
    assert "Major System Outage" in html or "Partial System Outage" in html
    # windows in progress: ETA overdue in red, checklist progress, a link to the window
    row = _section(html, "cr-in-progress")
    assert reverse("admin:maintenance_maintenancewindow_change", args=[running.pk]) in row
    assert "overdue by 20 min" in row and "Before: 4/5 (debt)" in row and "During: 1/4" in row
    assert "Update ETA…" in row  # the next right thing, for an operator
    # next 7 days: notice and approval state
    upcoming_html = _section(html, "cr-upcoming")
    assert reverse("admin:maintenance_maintenancewindow_change", args=[upcoming.pk]) in upcoming_html
    assert "3/5 done" in upcoming_html and "Before item 3; Before item 4" in upcoming_html
    assert "too late for routine notice (24 h)" in upcoming_html  # the draft starts in 5 h
    assert reverse("admin:maintenance_maintenancewindow_change", args=[draft.pk]) in upcoming_html
    # incidents by level, with the SLA
    incidents = _section(html, "cr-incidents")
    assert reverse("admin:incidents_incident_change", args=[p1.pk]) in incidents
    assert "SLA breached 15 min ago" in incidents
    # runbook executions: running and recently failed
    runs = _section(html, "cr-executions")
    assert reverse("admin:runbooks_runbookexecution_change", args=[execution.pk]) in runs
    assert reverse("admin:runbooks_runbookexecution_change", args=[failed_run.pk]) in runs
    assert "pg_dump: connection refused" in runs
    # failed deliveries, with Resend for an operator
    deliveries = _section(html, "cr-deliveries")
    assert reverse("admin:notifications_notificationdelivery_change", args=[delivery.pk]) in deliveries
    assert reverse("admin:notifications_notificationdelivery_workflow", args=[delivery.pk, "resend"]) in deliveries
    # the last audit events, linked to their targets
    audit = _section(html, "cr-audit")
    assert "incident.opened" in audit and reverse("admin:incidents_incident_change", args=[p1.pk]) in audit
    # what needs attention first
    headline = _section(html, "cr-headline")
    assert "1 P1 past the response SLA" in headline and "1 window past its ETA" in headline


def test_times_are_shown_in_the_operators_zone_and_pacific(client, users):
    from ersen_ops.core.timezones import COOKIE

    running = in_progress_window(users["operator"])
    client.force_login(users["viewer"])
    client.cookies[COOKIE] = "Europe/Istanbul"
    html = client.get(INDEX).content.decode()
    row = _section(html, "cr-in-progress")
    eta_istanbul = timezone.localtime(running.eta, __import__("zoneinfo").ZoneInfo("Europe/Istanbul"))
    eta_pacific = timezone.localtime(running.eta, __import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert f"{eta_istanbul:%H:%M} +03 · {eta_pacific:%H:%M} P" in row


@pytest.fixture
def every_channel_configured(settings):
    settings.OPS_EMAIL_TO = ["ops@ersen.xyz"]
    for name in ("DISCORD_WEBHOOK_URL", "SLACK_WEBHOOK_URL", "SLACK_TEAM_OPS_WEBHOOK_URL", "PAGER_WEBHOOK_URL"):
        setattr(settings, name, "https://hooks.example/x")
    settings.PAGER_ROUTING_KEY = "key"


def test_a_quiet_night_says_nothing_needs_attention(client, users, every_channel_configured):
    client.force_login(users["viewer"])
    html = client.get(INDEX).content.decode()
    assert "Nothing needs attention right now." in html
    assert "No window is in progress." in html and "No open incidents." in html


def test_viewers_get_no_action_buttons(client, users):
    in_progress_window(users["operator"], overdue=True)
    open_incident(level=Level.P1, actor=users["commander"])
    DeliveryFactory(status=DeliveryStatus.FAILED)
    client.force_login(users["viewer"])
    html = client.get(INDEX).content.decode()
    assert "Update ETA…" not in html and "Acknowledge…" not in html and "Resend…" not in html
    assert "Open an incident" not in html


def test_staff_without_view_permissions_sees_no_sections(client, users):
    client.force_login(UserFactory(username="bare-staff"))
    response = client.get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("cr-status", "cr-in-progress", "cr-incidents", "cr-executions", "cr-deliveries", "cr-audit"):
        assert f'id="{section}"' not in html


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(INDEX)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- bounded queries ---------------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_rows(client, users, django_assert_num_queries):
    populate(5, users)
    client.force_login(users["operator"])
    client.get(INDEX)  # warm the content-type cache
    with CaptureQueriesContext(connection) as few:
        assert client.get(INDEX).status_code == 200
    populate(45, users)
    with django_assert_num_queries(len(few)):
        response = client.get(INDEX)
    html = response.content.decode()
    assert html.count('data-window="mnt_') >= 100 and html.count("data-incident=") == 50
    print(f"control room: {len(few)} queries with 5 of each, the same with 50")
    assert len(few) <= 45, f"{len(few)} queries for the control room"


# --- pure parts ----------------------------------------------------------------------------------------------


def test_draft_notice_names_the_deadline_or_says_it_is_too_late(users):
    now = timezone.now()
    window = MaintenanceWindowFactory.build(type=MaintenanceType.ROUTINE, planned_start=now + timedelta(hours=30))
    text, problem = dash.draft_notice(window, now=now, phase=Phase.POSTLAUNCH)
    assert text.startswith("not announced — schedule by ") and "for 24 h notice" in text and not problem
    window.planned_start = now + timedelta(hours=19, minutes=12, seconds=30)
    text, problem = dash.draft_notice(window, now=now, phase=Phase.POSTLAUNCH)
    assert text == "not announced — too late for routine notice (24 h): it starts in 19 h 12 min" and problem
    assert dash.draft_notice(window, now=now, phase=Phase.PRELAUNCH) == (
        "not announced yet (pre-launch: no notice rule)",
        False,
    )


def test_prelaunch_phase_is_said_on_the_control_room(client, users):
    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    client.force_login(users["viewer"])
    assert "pre-launch phase" in client.get(INDEX).content.decode()


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    end = html.find('<div class="module', start + 1)
    return html[start : end if end != -1 else len(html)]


# --- issue 14 point 2: channels the protocol relies on, and what was not delivered --------------------------


def test_the_control_room_names_every_unconfigured_channel_the_protocol_relies_on_at_the_top(
    client, users, every_channel_configured, settings
):
    settings.PAGER_WEBHOOK_URL = ""
    settings.SLACK_TEAM_OPS_WEBHOOK_URL = ""
    client.force_login(users["viewer"])
    html = client.get(INDEX).content.decode()
    box = _section(html, "cr-channels")
    assert html.index('id="cr-channels"') < html.index('class="cr-quick"')  # above everything but the headline
    assert "Pager — not configured (set PAGER_WEBHOOK_URL)" in box
    assert "P1 incidents (the immediate page)" in box and "emergency maintenance announcements" in box
    assert "Slack #team-ops — not configured (set SLACK_TEAM_OPS_WEBHOOK_URL)" in box
    assert "post-maintenance summaries" in box and "P3 incidents past their response time" in box
    assert 'data-channel="slack"' not in box and 'data-channel="email"' not in box  # configured: not listed
    headline = _section(html, "cr-headline")
    assert "Pager not configured" in headline and "Not configured: Slack #team-ops" in headline
    assert "Nothing needs attention" not in headline


def test_pre_launch_downtime_relies_on_slack_and_discord(client, users, every_channel_configured, settings):
    from ersen_ops.notifications.reliance import unconfigured_channels

    settings.DISCORD_WEBHOOK_URL = ""
    [post] = unconfigured_channels(Phase.POSTLAUNCH)
    [pre] = unconfigured_channels(Phase.PRELAUNCH)
    assert "pre-launch downtime over 5 min" not in post.purposes
    assert "pre-launch downtime over 5 min" in pre.purposes and "urgent maintenance announcements" in pre.purposes


def test_failed_and_skipped_deliveries_of_the_last_7_days_are_counted_and_linked(
    client, users, every_channel_configured
):
    DeliveryFactory(status=DeliveryStatus.FAILED, last_error="HTTP 400")
    DeliveryFactory(status=DeliveryStatus.SKIPPED, last_error="not configured: set DISCORD_WEBHOOK_URL")
    DeliveryFactory(status=DeliveryStatus.SKIPPED, last_error="not configured: set DISCORD_WEBHOOK_URL")
    DeliveryFactory(status=DeliveryStatus.SENT)
    client.force_login(users["operator"])
    html = client.get(INDEX).content.decode()
    box = _section(html, "cr-channels")
    link = re.search(r'<a href="([^"]+)">1 failed, 2 skipped deliveries</a>', box).group(1).replace("&amp;", "&")
    assert link.startswith("/admin/notifications/notificationdelivery/?status__in=failed%2Cskipped&created_at__gte=")
    assert "Failed or skipped notifications (3)" in html
    # The link opens the delivery list filtered to exactly those.
    listed = client.get(link)
    assert listed.status_code == 200 and listed.context["cl"].result_count == 3
