"""Live feedback without a reload: the delivery-status endpoint the "Notifications sent" tables poll, SLA countdowns."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ersen_ops.notifications.choices import DeliveryStatus
from incidents.choices import Level
from tests.factories import UserFactory
from tests.incidents.factories import open_incident
from tests.notifications.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

STATUS_URL = reverse("admin:notifications_notificationdelivery_status")


def test_delivery_status_endpoint_reports_each_requested_delivery_with_one_query_for_the_rows(
    client, users, django_assert_num_queries
):
    sent = DeliveryFactory(status=DeliveryStatus.SENT, attempts=1, response="204")
    queued = DeliveryFactory(status=DeliveryStatus.QUEUED)
    DeliveryFactory(status=DeliveryStatus.FAILED)  # not asked for
    client.force_login(users["viewer"])
    # session, user, whether the (exempt) viewer needs a second factor, the user's and the role's permissions,
    # the deliveries
    with django_assert_num_queries(6):
        data = client.get(STATUS_URL, {"ids": f"{sent.pk},{queued.pk},junk"}).json()
    by_id = {d["id"]: d for d in data["deliveries"]}
    assert set(by_id) == {sent.pk, queued.pk}
    assert by_id[sent.pk]["status"] == "sent" and by_id[sent.pk]["label"] == "Sent"
    assert by_id[sent.pk]["colour"] == "#2e7d32" and by_id[sent.pk]["response"] == "204"
    assert by_id[queued.pk]["status"] == "queued" and by_id[queued.pk]["sent"] == ""


def test_delivery_status_endpoint_needs_the_view_permission_and_get(client, users):
    client.force_login(UserFactory(username="plain-staff"))
    assert client.get(STATUS_URL, {"ids": "1"}).status_code == 403
    client.force_login(users["viewer"])
    assert client.post(STATUS_URL, {"ids": "1"}).status_code == 403


def test_deliveries_table_on_a_change_form_is_wired_for_live_updates(client, users):
    incident = open_incident(level=Level.P2, actor=users["commander"])
    client.force_login(users["viewer"])
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert f'data-live-deliveries="{STATUS_URL}"' in html
    assert 'class="delivery-status"' in html and "ops/live.js" in html


def test_waiting_incident_shows_a_ticking_sla_countdown(client, users):
    incident = open_incident(level=Level.P1, actor=users["commander"])
    client.force_login(users["viewer"])
    html = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert f'class="ops-countdown due-within-hour" data-due="{incident.response_due_at.isoformat()}"' in html
    assert "due in 14 min" in html or "due in 15 min" in html
