"""The admin: subscribers list (constant queries, search, filters, CSV export), webhook registration with the
secret shown once, rotation, erasure, permissions."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ersen_ops.audit.models import AuditEvent
from subscribers.choices import SubscriberStatus
from subscribers.models import Notice, Subscriber, SubscriberMessage, WebhookSubscriber
from tests.factories import ComponentFactory
from tests.subscribers.factories import SubscriberFactory, WebhookSubscriberFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/subscribers/subscriber/"
HOOKS = "/admin/subscribers/webhooksubscriber/"


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def make_subscribers(count, components):
    from ersen_ops.notifications.choices import SubscriberChannel
    from ersen_ops.notifications.models import NotificationDelivery

    for n in range(count):
        subscriber = SubscriberFactory(components=components[: n % 3])
        delivery = NotificationDelivery.objects.create(
            event="incident.investigating",
            channel=SubscriberChannel.SUBSCRIBER_EMAIL,
            subject="s",
            body="b",
            target_name=str(subscriber),
        )
        SubscriberMessage.objects.create(delivery=delivery, kind="notice", subscriber=subscriber)


def test_the_subscribers_list_costs_the_same_queries_for_10_and_200_rows(client, users):
    components = [ComponentFactory(name="API"), ComponentFactory(name="Dashboard")]
    client.force_login(users["operator"])
    make_subscribers(10, components)
    few = queries_for(client, LIST)
    make_subscribers(190, components)
    many = queries_for(client, LIST)
    assert few == many
    page = client.get(LIST).content.decode()
    assert "200 subscribers" in page and "reader" in page and "all" in page


def test_the_webhooks_list_costs_the_same_queries_for_5_and_60_rows(client, users):
    client.force_login(users["operator"])
    api = ComponentFactory(name="API")
    for _ in range(5):
        WebhookSubscriberFactory(components=[api])
    few = queries_for(client, HOOKS)
    for _ in range(55):
        WebhookSubscriberFactory(components=[api])
    assert queries_for(client, HOOKS) == few


def test_search_and_filters(client, users):
    client.force_login(users["operator"])
    SubscriberFactory(email="findme@example.com")
    SubscriberFactory(email="other@example.com", status=SubscriberStatus.PENDING, confirmed_at=None)
    assert "findme@example.com" in client.get(LIST + "?q=findme").content.decode()
    assert "other@example.com" not in client.get(LIST + "?q=findme").content.decode()
    pending = client.get(LIST + "?status__exact=pending").content.decode()
    assert "other@example.com" in pending and "findme@example.com" not in pending


def test_csv_export_is_permissioned_audited_and_safe_for_spreadsheets(client, users):
    api = ComponentFactory(name="API")
    tricky = SubscriberFactory(email="=2+3@example.com", components=[api])
    plain = SubscriberFactory(email="plain@example.com")
    client.force_login(users["operator"])
    response = client.post(
        LIST, {"action": "export_csv", "_selected_action": [tricky.pk, plain.pk], "index": 0, "select_across": 0}
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["email", "status", "components"]
    by_email = {r[0]: r for r in rows[1:]}
    assert by_email["'=2+3@example.com"][2] == "API"  # never run as a formula
    assert by_email["plain@example.com"][2] == "all"
    assert AuditEvent.objects.get(action="subscribers.exported").data["count"] == 2


def test_viewers_see_notices_but_not_subscribers(client, users):
    client.force_login(users["viewer"])
    assert client.get(LIST).status_code == 403
    assert client.get(HOOKS).status_code == 403
    assert client.get("/admin/subscribers/notice/").status_code == 200


def test_nobody_adds_an_email_subscriber_by_hand(client, users):
    client.force_login(users["admin"])
    assert client.get(LIST + "add/").status_code == 403


def test_registering_a_webhook_shows_its_secret_once(client, users):
    api = ComponentFactory(name="API")
    client.force_login(users["operator"])
    response = client.post(
        HOOKS + "add/",
        {"name": "Acme bridge", "url": "https://hooks.acme.example/status/t0kenSECRETpath0123", "components": [api.pk]},
    )
    assert response.status_code == 200
    webhook = WebhookSubscriber.objects.get()
    page = response.content.decode()
    assert webhook.secret.startswith("whsec_") and webhook.secret in page and "shown only" in page
    assert "no-store" in response["Cache-Control"]
    assert list(webhook.components.all()) == [api]
    # Never again: not on the change page, not in the audit trail (neither is the URL's path).
    change = client.get(f"{HOOKS}{webhook.pk}/change/").content.decode()
    assert webhook.secret not in change
    created = AuditEvent.objects.get(action="subscribers.webhook.created")
    assert created.actor_name == "operator" and created.data["after"]["host"] == "hooks.acme.example"
    assert webhook.secret not in str(created.data) and "t0kenSECRETpath" not in str(created.data)


def test_a_webhook_url_must_be_http_and_without_credentials(client, users):
    client.force_login(users["operator"])
    response = client.post(HOOKS + "add/", {"name": "Bad", "url": "https://user:pw@hooks.example/x"})
    assert response.status_code == 200 and "no user name or password" in response.content.decode()
    assert not WebhookSubscriber.objects.exists()


def test_rotating_the_secret_shows_the_new_one_once(client, users):
    webhook = WebhookSubscriberFactory()
    old = webhook.secret
    client.force_login(users["operator"])
    url = f"{HOOKS}{webhook.pk}/do/rotate_secret/"
    assert client.get(url).status_code == 200
    webhook.refresh_from_db()
    assert webhook.secret == old  # GET only asks
    response = client.post(url)
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.secret in response.content.decode()
    assert AuditEvent.objects.filter(action="subscribers.webhook.secret_rotated").count() == 1


def test_erasing_a_subscriber_keeps_the_delivery_record_without_the_address(client, users):
    make_subscribers(1, [])
    subscriber = Subscriber.objects.get()
    client.force_login(users["operator"])
    response = client.post(f"{LIST}{subscriber.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Subscriber.objects.exists()
    message = SubscriberMessage.objects.get()
    assert message.subscriber_id is None and "@" not in message.delivery.target_name
    erased = AuditEvent.objects.get(action="subscribers.erased")
    assert erased.target_repr == f"subscriber {subscriber.public_id}" and "@" not in str(erased.data)


def test_an_operator_unsubscribes_from_the_change_page(client, users):
    subscriber = SubscriberFactory()
    client.force_login(users["operator"])
    url = f"{LIST}{subscriber.pk}/do/unsubscribe/"
    assert client.post(url).status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED and subscriber.unsubscribed_via == "operator (admin)"
    client.force_login(users["viewer"])
    assert client.post(url).status_code == 403


def test_notice_list_and_page(client, users, pipeline):
    from incidents.choices import Impact, Level
    from incidents.services import incident_open

    SubscriberFactory()
    with pipeline():
        incident_open(
            actor=users["commander"],
            title="API errors",
            level=Level.P3,
            components={ComponentFactory(name="API"): Impact.DEGRADED_PERFORMANCE},
            message="Looking.",
        )
    notice = Notice.objects.get()
    client.force_login(users["viewer"])
    assert "API errors" in client.get("/admin/subscribers/notice/").content.decode()
    page = client.get(f"/admin/subscribers/notice/{notice.pk}/change/").content.decode()
    assert re.search(r"sent: 1", page) and "1/1" in page


def test_deleting_a_webhook_is_audited_and_keeps_its_deliveries(client, users):
    webhook = WebhookSubscriberFactory(name="Old bridge")
    client.force_login(users["operator"])
    assert client.post(f"{HOOKS}{webhook.pk}/delete/", {"post": "yes"}).status_code == 403  # not the Operators' call
    client.force_login(users["admin"])
    assert client.post(f"{HOOKS}{webhook.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not WebhookSubscriber.objects.exists()
    event = AuditEvent.objects.get(action="subscribers.webhook.deleted")
    assert event.actor_name == "admin" and event.data["before"]["name"] == "Old bridge"
