"""The deliveries admin: read-only record, Resend (button and bulk action) with permission, constant query counts."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.admin import DeliveriesMixin
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.status.models import Component
from tests.factories import ComponentFactory
from tests.notifications.conftest import DISCORD_PATH
from tests.notifications.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_notificationdelivery_changelist"


def _resend_url(delivery):
    return reverse("admin:notifications_notificationdelivery_workflow", args=[delivery.pk, "resend"])


def _failed(**kwargs):
    return DeliveryFactory(
        status=DeliveryStatus.FAILED, attempts=7, response="HTTP 404 NOT FOUND", last_error="Unknown Webhook", **kwargs
    )


def test_a_viewer_sees_deliveries_but_gets_403_on_resend(client, users):
    delivery = _failed()
    client.force_login(users["viewer"])
    assert client.get(reverse(CHANGELIST)).status_code == 200
    page = client.get(reverse("admin:notifications_notificationdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert b"Your role does not include this action." in page.content  # the button is shown disabled
    assert client.post(_resend_url(delivery)).status_code == 403
    assert NotificationDelivery.objects.count() == 1
    assert not AuditEvent.objects.filter(action="notification.resent").exists()


def test_an_operator_resends_a_failed_delivery_as_a_new_linked_delivery(client, users, webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    delivery = _failed()
    client.force_login(users["operator"])
    page = client.get(reverse("admin:notifications_notificationdelivery_change", args=[delivery.pk]))
    assert f'href="{_resend_url(delivery)}"'.encode() in page.content  # an enabled button
    confirm = client.get(_resend_url(delivery))
    assert confirm.status_code == 200 and b"Unknown Webhook" in confirm.content
    assert NotificationDelivery.objects.count() == 1, "GET never changes anything"
    with send():
        response = client.post(_resend_url(delivery))
    assert response.status_code == 302
    copy = NotificationDelivery.objects.get(resend_of=delivery)
    copy.refresh_from_db()
    assert copy.status == DeliveryStatus.SENT and copy.message == delivery.message and copy.attempts == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_error == "Unknown Webhook"  # history kept
    resent = AuditEvent.objects.get(action="notification.resent")
    assert resent.actor_name == "operator" and resent.target_id == str(delivery.pk)
    assert resent.data["resent_as"] == copy.pk


def test_a_delivery_is_resent_once_and_a_sent_one_not_at_all(client, users):
    delivery = _failed()
    sent = DeliveryFactory(status=DeliveryStatus.SENT)
    client.force_login(users["operator"])
    assert client.post(_resend_url(delivery)).status_code == 302
    again = client.post(_resend_url(delivery))
    assert again.status_code == 400
    assert b"was already resent as" in again.content
    refused = client.post(_resend_url(sent))
    assert refused.status_code == 400
    assert b"Only failed or skipped deliveries can be resent; delivery" in refused.content
    assert NotificationDelivery.objects.count() == 3


def test_the_bulk_resend_action_resends_failed_ones_and_explains_the_rest(client, users):
    failed = [_failed(), _failed()]
    sent = DeliveryFactory(status=DeliveryStatus.SENT)
    client.force_login(users["operator"])
    response = client.post(
        reverse(CHANGELIST),
        {"action": "resend_deliveries", "_selected_action": [d.pk for d in [*failed, sent]]},
        follow=True,
    )
    assert response.status_code == 200
    assert NotificationDelivery.objects.filter(resend_of__in=failed).count() == 2
    assert not NotificationDelivery.objects.filter(resend_of=sent).exists()
    text = response.content.decode()
    assert "Resent 2 deliveries" in text and "Only failed or skipped deliveries can be resent" in text


def test_the_bulk_resend_action_is_not_offered_to_a_viewer(client, users):
    delivery = _failed()
    client.force_login(users["viewer"])
    page = client.get(reverse(CHANGELIST))
    assert b"resend_deliveries" not in page.content
    client.post(reverse(CHANGELIST), {"action": "resend_deliveries", "_selected_action": [delivery.pk]})
    assert NotificationDelivery.objects.count() == 1


def test_nobody_adds_changes_or_deletes_a_delivery(client, users):
    delivery = _failed()
    client.force_login(users["admin"])
    assert client.get(reverse("admin:notifications_notificationdelivery_add")).status_code == 403
    assert client.get(reverse("admin:notifications_notificationdelivery_delete", args=[delivery.pk])).status_code == 403
    page = client.get(reverse("admin:notifications_notificationdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def _changelist_queries(client, count: int) -> int:
    component = ComponentFactory()
    NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(
                event="maintenance.scheduled",
                channel=Channel.DISCORD,
                subject=f"s{i}",
                body="b",
                related=component,
                status=DeliveryStatus.FAILED,
            )
            for i in range(count)
        ]
    )
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse(CHANGELIST)).status_code == 200
    return len(ctx.captured_queries)


def test_the_delivery_list_needs_the_same_number_of_queries_for_10_and_200_rows(client, users):
    client.force_login(users["operator"])
    few = _changelist_queries(client, 10)
    many = _changelist_queries(client, 190)
    assert few == many


class _ComponentAdminWithDeliveries(DeliveriesMixin, admin.ModelAdmin):
    pass


def test_deliveries_mixin_shows_who_was_told_what_in_one_query(rf, django_assert_num_queries):
    component = ComponentFactory(name="Checkout")
    other = ComponentFactory(name="Search")
    for status in [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED]:
        DeliveryFactory(related=component, status=status, subject=f"About checkout ({status})")
    DeliveryFactory(related=other, subject="About search")
    model_admin = _ComponentAdminWithDeliveries(Component, admin.site)
    assert "deliveries_sent" in model_admin.get_readonly_fields(rf.get("/"), component)
    model_admin.deliveries_sent(component)  # warm the content-type cache
    with django_assert_num_queries(1):
        html = model_admin.deliveries_sent(component)
    assert html.count('data-delivery="') == 3
    assert "About checkout (failed)" in html and "About search" not in html
    assert 'data-status="skipped"' in html
