"""The incident admin: urgent-first list with constant queries, workflow buttons (permission-checked, GET never
mutates), opening, the sprint/backlog lists and the report page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from incidents import services
from incidents.choices import Impact, IncidentStatus, Level
from incidents.models import Incident, IncidentComponent
from tests.factories import ComponentFactory, UserFactory
from tests.incidents.factories import open_incident

LIST_URL = reverse("admin:incidents_incident_changelist")


def change_url(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def action_url(incident, action):
    return reverse("admin:incidents_incident_workflow", args=[incident.pk, action])


def bulk_incidents(count: int):
    """Many incidents of every level and state, with commanders and components (bulk, for list tests)."""
    now = timezone.now()
    commanders = [UserFactory(username=f"cmd{i}") for i in range(3)]
    components = [ComponentFactory(name=f"Component {i}") for i in range(4)]
    rows = []
    for i in range(count):
        opened = now - timedelta(minutes=7 * i + 1)
        level = Level.values[i % 4]
        acknowledged = opened + timedelta(minutes=3) if i % 3 == 0 else None
        resolved = opened + timedelta(minutes=30) if i % 5 == 0 else None
        rows.append(
            Incident(
                title=f"Incident {i}", level=level, opened_at=opened, response_due_at=opened + timedelta(minutes=15),
                status=IncidentStatus.RESOLVED if resolved else IncidentStatus.INVESTIGATING,
                acknowledged_at=acknowledged or resolved, resolved_at=resolved, commander=commanders[i % 3],
                breached=i % 7 == 0, breached_at=opened + timedelta(minutes=15) if i % 7 == 0 else None,
            )
        )
    created = Incident.objects.bulk_create(rows)
    IncidentComponent.objects.bulk_create(
        IncidentComponent(incident=inc, component=components[(n + k) % 4], impact=Impact.values[k % 3])
        for n, inc in enumerate(created)
        for k in range(2)
    )
    return created


def list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST_URL)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_admin_list_query_count_is_constant_as_incidents_grow(client, users, django_assert_num_queries):
    client.force_login(users["viewer"])
    bulk_incidents(10)
    baseline = list_queries(client)
    print(f"incident admin list: {baseline} queries")
    bulk_incidents(190)
    assert Incident.objects.count() == 200
    with django_assert_num_queries(baseline):
        response = client.get(LIST_URL)
    assert response.status_code == 200
    assert response.content.decode().count('class="badge badge-P') == 100  # one page of 100 rows


@pytest.mark.django_db
def test_list_puts_unacknowledged_p1s_first_and_shows_breached_in_red(client, users):
    now = timezone.now()
    open_incident(level=Level.P3, title="Typo on pricing page", now=now - timedelta(minutes=1))
    acked_p1 = open_incident(level=Level.P1, title="Acked outage", now=now - timedelta(minutes=3))
    services.incident_acknowledge(actor=users["commander"], incident=acked_p1, now=now - timedelta(minutes=2))
    open_incident(level=Level.P1, title="Login down", now=now - timedelta(minutes=20))
    services.incidents_check_sla(now=now)
    client.force_login(users["viewer"])
    html = client.get(LIST_URL).content.decode()
    order = [html.index(t) for t in ("Login down", "Typo on pricing page", "Acked outage")]
    assert order == sorted(order), "unacknowledged P1 first, then other waiting ones, then acknowledged"
    assert '<span class="breached" title="due' in html
    assert "due in 23 h" in html  # the P3's response time left


@pytest.mark.django_db
def test_list_filters_by_level_status_breached_and_component(client, users):
    api, web = ComponentFactory(name="API"), ComponentFactory(name="Website")
    open_incident(level=Level.P1, title="API down", components={api: Impact.MAJOR_OUTAGE})
    open_incident(level=Level.P4, title="Logo blurry", components={web: Impact.DEGRADED_PERFORMANCE})
    client.force_login(users["viewer"])
    assert "Logo blurry" not in client.get(LIST_URL + "?level__exact=P1").content.decode()
    assert "API down" not in client.get(LIST_URL + f"?component={web.pk}").content.decode()
    assert "API down" not in client.get(LIST_URL + "?breached__exact=1").content.decode()
    assert "API down" in client.get(LIST_URL + "?status__exact=investigating").content.decode()


@pytest.mark.django_db
def test_viewer_gets_403_on_every_action_get_and_post(client, users):
    incident = open_incident(level=Level.P1)
    client.force_login(users["viewer"])
    for action in ("acknowledge", "resolve", "change_level", "post_update", "assign_commander", "components", "link_window"):
        assert client.get(action_url(incident, action)).status_code == 403, action
        assert client.post(action_url(incident, action), {"body": "x", "level": "P2", "reason": "x"}).status_code == 403, action
    assert client.get(reverse("admin:incidents_incident_open")).status_code == 403
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.level == Level.P1 and incident.resolved_at is None


@pytest.mark.django_db
def test_operator_may_post_updates_but_not_acknowledge_or_resolve(client, users):
    incident = open_incident(level=Level.P2)
    client.force_login(users["operator"])
    assert client.post(action_url(incident, "acknowledge")).status_code == 403
    assert client.post(action_url(incident, "resolve"), {"body": "done"}).status_code == 403
    response = client.post(action_url(incident, "post_update"), {"status": "identified", "body": "Cause found", "public": "on"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.IDENTIFIED


@pytest.mark.django_db
def test_get_on_an_action_confirms_and_never_mutates(client, users):
    incident = open_incident(level=Level.P1)
    client.force_login(users["commander"])
    events = AuditEvent.objects.count()
    for action in ("acknowledge", "resolve", "change_level"):
        response = client.get(action_url(incident, action))
        assert response.status_code == 200 and b"Confirm:" in response.content
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.resolved_at is None
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_commander_acknowledges_and_a_second_acknowledgement_is_a_message_not_an_error(client, users):
    incident = open_incident(level=Level.P1)
    client.force_login(users["commander"])
    first = client.post(action_url(incident, "acknowledge"), follow=True)
    assert first.status_code == 200
    assert any("Acknowledged after" in str(m) for m in first.context["messages"])
    second = client.post(action_url(incident, "acknowledge"), follow=True)
    assert second.status_code == 200
    texts = [str(m) for m in second.context["messages"]]
    assert any(t.startswith("Already acknowledged by commander at ") for t in texts), texts
    assert AuditEvent.objects.filter(action="incident.acknowledged").count() == 1


@pytest.mark.django_db
def test_resolving_without_final_text_is_refused_in_the_admin(client, users):
    incident = open_incident(level=Level.P2)
    client.force_login(users["commander"])
    response = client.post(action_url(incident, "resolve"), {"body": "   "})
    assert response.status_code == 400
    assert "Resolving needs a final public update" in response.content.decode()
    incident.refresh_from_db()
    assert incident.resolved_at is None
    response = client.post(action_url(incident, "resolve"), {"body": "All fixed."})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED


@pytest.mark.django_db
def test_change_level_in_the_admin_needs_a_reason_and_records_history(client, users):
    incident = open_incident(level=Level.P3)
    client.force_login(users["commander"])
    assert client.post(action_url(incident, "change_level"), {"level": "P1", "reason": ""}).status_code == 400
    assert client.post(action_url(incident, "change_level"), {"level": "P1", "reason": "Payments fail"}).status_code == 302
    incident.refresh_from_db()
    assert incident.level == Level.P1 and incident.level_changes.get().reason == "Payments fail"
    html = client.get(change_url(incident)).content.decode()
    assert "Level P3 → P1: Payments fail" in html


@pytest.mark.django_db
def test_opening_an_incident_from_the_admin(client, users):
    api = ComponentFactory(name="API")
    client.force_login(users["operator"])
    assert client.get(reverse("admin:incidents_incident_add")).status_code == 302
    page = client.get(reverse("admin:incidents_incident_open"))
    assert page.status_code == 200 and b"Immediate page" in page.content
    response = client.post(
        reverse("admin:incidents_incident_open"),
        {"title": "Checkout errors", "level": "P2", f"impact_{api.pk}": "partial_outage", "message": "Investigating checkout errors.", "internal_notes": "suspect stripe webhook"},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == change_url(incident)
    assert incident.level == Level.P2 and incident.opened_by == users["operator"]
    assert incident.component_impacts.get().impact == Impact.PARTIAL_OUTAGE
    assert incident.updates.get().public


@pytest.mark.django_db
def test_change_form_shows_timeline_buttons_deliveries_and_audit(client, users):
    incident = open_incident(level=Level.P1, message="We are investigating.", internal_notes="db01 disk full")
    services.incident_post_update(actor=users["commander"], incident=incident, status="identified", body="Disk filled by logs", public=False)
    client.force_login(users["commander"])
    html = client.get(change_url(incident)).content.decode()
    for text in ("We are investigating.", "Disk filled by logs", "tag-internal", "tag-public", 'data-action="acknowledge"',
                 'data-action="resolve"', 'data-action="change_level"', "incident.opened", "db01 disk full"):
        assert text in html, text
    assert re.search(r"Pager.*incident.paged", html, re.S), "the page is listed among the deliveries"


@pytest.mark.django_db
def test_editing_free_text_goes_through_the_service_and_is_audited(client, users):
    incident = open_incident(level=Level.P2, title="Old title")
    client.force_login(users["commander"])
    response = client.post(change_url(incident), {"title": "New title", "internal_notes": "n", "postmortem_summary": "", "postmortem_url": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    incident.refresh_from_db()
    assert incident.title == "New title"
    assert AuditEvent.objects.get(action="incident.edited").data["before"]["title"] == "Old title"


@pytest.mark.django_db
def test_sprint_and_backlog_lists(client, users):
    open_incident(level=Level.P3, title="Search misses accents")
    open_incident(level=Level.P4, title="Footer colour")
    open_incident(level=Level.P2, title="Exports broken")
    client.force_login(users["viewer"])
    sprint = client.get(reverse("admin:incidents_sprintqueueincident_changelist")).content.decode()
    backlog = client.get(reverse("admin:incidents_backlogincident_changelist")).content.decode()
    assert "Search misses accents" in sprint and "Footer colour" not in sprint and "Exports broken" not in sprint
    assert "Current sprint: Sprint" in sprint
    assert "Footer colour" in backlog and "Search misses accents" not in backlog


@pytest.mark.django_db
def test_report_page_needs_a_login_and_the_view_permission(client, users):
    url = reverse("admin:incidents_incident_report")
    assert client.get(url).status_code == 302  # to the login page
    nobody = UserFactory(username="staff-without-role")
    client.force_login(nobody)
    assert client.get(url).status_code == 403
    client.force_login(users["viewer"])
    response = client.get(url)
    assert response.status_code == 200
    assert b"Last 30 days" in response.content and b"Last 90 days" in response.content and b"<svg" in response.content


@pytest.mark.django_db
def test_report_shows_mtta_mttr_and_attainment_on_a_fixed_data_set(client, users):
    now = timezone.now()
    for ack, res in ((4, 60), (8, 120)):
        incident = open_incident(level=Level.P1, now=now - timedelta(days=2))
        services.incident_acknowledge(actor=users["commander"], incident=incident, now=incident.opened_at + timedelta(minutes=ack))
        services.incident_resolve(actor=users["commander"], incident=incident, body="fixed", now=incident.opened_at + timedelta(minutes=res))
    late = open_incident(level=Level.P1, now=now - timedelta(days=40))
    services.incident_acknowledge(actor=users["commander"], incident=late, now=late.opened_at + timedelta(minutes=30))
    client.force_login(users["viewer"])
    html = client.get(reverse("admin:incidents_incident_report")).content.decode()
    last30, last90 = html.split('id="last-90-days"')
    row30 = re.search(r'data-level="P1">(.*?)</tr>', last30, re.S).group(1)
    assert '<td class="mtta">6 min</td>' in row30 and '<td class="mttr">1 h 30 min</td>' in row30
    assert '<td class="attainment">100 %</td>' in row30
    row90 = re.search(r'data-level="P1">(.*?)</tr>', last90, re.S).group(1)
    assert '<td class="mtta">14 min</td>' in row90  # (4 + 8 + 30) / 3
    assert '<td class="attainment">66.7 %</td>' in row90


@pytest.mark.django_db
def test_affected_components_and_window_link_buttons_call_the_services(client, users):
    from maintenance.models import MaintenanceWindow

    api, login = ComponentFactory(name="API"), ComponentFactory(name="Login")
    now = timezone.now()
    incident = open_incident(level=Level.P2, components={api: Impact.PARTIAL_OUTAGE}, now=now)
    client.force_login(users["operator"])
    page = client.get(action_url(incident, "components"))
    assert 'option value="partial_outage" selected' in page.content.decode()
    response = client.post(action_url(incident, "components"), {f"impact_{api.pk}": "", f"impact_{login.pk}": "major_outage"})
    assert response.status_code == 302
    assert dict(incident.component_impacts.values_list("component__name", "impact")) == {"Login": "major_outage"}

    old = MaintenanceWindow.objects.create(
        title="Old patching", planned_start=now - timedelta(days=3), planned_end=now - timedelta(days=3, hours=-1),
        status="completed", impact="-", reason="-",
    )
    response = client.post(action_url(incident, "link_window"), {"maintenance_window": old.pk})
    assert response.status_code == 400
    assert "which does not overlap the incident&#x27;s open time" in response.content.decode()
    incident.refresh_from_db()
    assert incident.maintenance_window is None
