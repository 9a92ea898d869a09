"""Every admin page an operator uses: constant query counts as rows grow (few vs many), and every changelist
has filters and a search box. Pages are read as the superuser (every column, every button)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.notifications.choices import DeliveryStatus
from incidents.choices import Level
from runbooks.choices import ExecutionStatus
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident
from tests.maintenance.factories import FreezePeriodFactory, MaintenanceWindowFactory
from tests.notifications.factories import DeliveryFactory
from tests.runbooks.factories import ExecutionFactory, HostFactory, RunbookFactory, RunbookStepFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"audit", "core", "notifications", "status", "maintenance", "incidents", "runbooks", "subscribers", "scheduler"}
SINGLETONS = {"core.sitesettings", "scheduler.schedulerswitch"}  # one row, nothing to filter


def _windows(n, users):
    component = ComponentFactory(name="Database")
    now = timezone.now()
    for i in range(n):
        start = now + timedelta(days=i + 1)
        MaintenanceWindowFactory(planned_start=start, owner=users["operator"], components=[component])


def _incidents(n, users):
    api = ComponentFactory(name="API")
    for i in range(n):
        open_incident(
            level=[Level.P1, Level.P2, Level.P3, Level.P4][i % 4],
            actor=users["commander"],
            title=f"Trouble {i}",
            components={api: "partial_outage"},
        )


def _executions(n, users):
    runbook = RunbookFactory(name="Database backup", slug="database-backup")
    for i in range(n):
        host = HostFactory()
        host.components.set([ComponentFactory(name="Database")])
        status = [ExecutionStatus.QUEUED, ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED][i % 3]
        ExecutionFactory(runbook=runbook, host=host, status=status, requested_by=users["operator"])


def _hosts(n, users):
    for i in range(n):
        HostFactory().components.set([ComponentFactory(name=f"Part {i % 3}")])


def _runbooks(n, users):
    for _i in range(n):
        RunbookStepFactory(runbook=RunbookFactory())


def _deliveries(n, users):
    window = MaintenanceWindowFactory(owner=users["operator"])
    for i in range(n):
        DeliveryFactory(status=[DeliveryStatus.SENT, DeliveryStatus.FAILED][i % 2], related=window)


def _audit(n, users):
    component = ComponentFactory(name="Database")
    for i in range(n):
        record(actor=users["operator"], action="test.event", target=component, data={"n": i})


def _components(n, users):
    group = ComponentFactory(name="Platform", is_group=True)
    for i in range(n):
        ComponentFactory(name=f"Service {i}", group=group if i % 2 else None)


def _freezes(n, users):
    for i in range(n):
        start = timezone.now() + timedelta(days=10 * i)
        FreezePeriodFactory(name=f"Freeze {i}", start=start, end=start + timedelta(days=2))


def _subscribers(n, users):
    from tests.subscribers.factories import SubscriberFactory

    component = ComponentFactory(name="Database")
    for _ in range(n):
        SubscriberFactory(components=[component])


def _webhooks(n, users):
    from tests.subscribers.factories import WebhookSubscriberFactory

    component = ComponentFactory(name="Database")
    for _ in range(n):
        WebhookSubscriberFactory(components=[component])


CHANGELISTS = [
    ("maintenance_maintenancewindow", _windows),
    ("maintenance_freezeperiod", _freezes),
    ("incidents_incident", _incidents),
    ("incidents_sprintqueueincident", _incidents),
    ("incidents_backlogincident", _incidents),
    ("runbooks_runbookexecution", _executions),
    ("runbooks_host", _hosts),
    ("runbooks_runbook", _runbooks),
    ("notifications_notificationdelivery", _deliveries),
    ("audit_auditevent", _audit),
    ("status_component", _components),
    ("subscribers_subscriber", _subscribers),
    ("subscribers_webhooksubscriber", _webhooks),
]


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize(("name", "make"), CHANGELISTS, ids=[n for n, _ in CHANGELISTS])
def test_changelist_query_count_does_not_grow_with_rows(client, users, name, make, django_assert_num_queries):
    url = reverse(f"admin:{name}_changelist")
    client.force_login(users["admin"])
    make(4, users)  # at least one of each kind (e.g. a P4 for the backlog): an empty page skips its prefetches
    client.get(url)  # content types and sessions warm
    few = _count(client, url)
    make(30, users)
    with django_assert_num_queries(few):
        client.get(url)


def test_every_changelist_of_ours_has_filters_and_search():
    missing = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if model._meta.app_label not in OUR_APPS or label in SINGLETONS:
            continue
        if not model_admin.list_filter or not model_admin.search_fields:
            missing.append(label)
    assert missing == []


# --- change forms: related rows grow, queries do not ----------------------------------------------------


def test_window_change_form_query_count_does_not_grow_with_history(client, users, django_assert_num_queries):
    from tests.maintenance.conftest import approve_phase, schedule

    window = MaintenanceWindowFactory(
        type="urgent",
        owner=users["operator"],
        on_call_engineer=users["approver"],
        planned_start=timezone.now() + timedelta(days=3),
    )
    schedule(window, users["operator"], now=timezone.now())
    approve_phase(window, "before", [users["approver"]], now=timezone.now())
    url = reverse("admin:maintenance_maintenancewindow_change", args=[window.pk])
    client.force_login(users["operator"])
    client.get(url)
    few = _count(client, url)
    runbook = RunbookFactory(name="Database backup", slug="database-backup")
    for _ in range(20):
        DeliveryFactory(related=window, status=DeliveryStatus.SENT)
        ExecutionFactory(runbook=runbook, host=HostFactory(), window=window, status=ExecutionStatus.SUCCEEDED)
        record(actor=users["operator"], action="test.event", target=window)
    with django_assert_num_queries(few):
        client.get(url)


def test_incident_change_form_query_count_does_not_grow_with_updates(client, users, django_assert_num_queries):
    from incidents import services

    incident = open_incident(level=Level.P2, actor=users["commander"])
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    client.force_login(users["commander"])
    client.get(url)
    few = _count(client, url)
    for i in range(15):
        services.incident_post_update(
            actor=users["commander"], incident=incident, status="identified", body=f"Update {i}", public=i % 2 == 0
        )
    with django_assert_num_queries(few):
        client.get(url)


def test_dashboard_and_calendar_are_reachable_from_every_page_for_staff(client, users):
    client.force_login(users["viewer"])
    html = client.get(reverse("admin:maintenance_maintenancewindow_changelist")).content.decode()
    assert 'href="/admin/"' in html and reverse("admin:maintenance_maintenancewindow_calendar") in html
