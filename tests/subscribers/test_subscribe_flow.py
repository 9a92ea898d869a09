"""The public flow through a real SMTP server: subscribe, confirm, receive, manage, unsubscribe."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery
from incidents.choices import Impact, Level
from incidents.services import incident_open, incident_post_update
from subscribers.choices import SubscriberStatus
from subscribers.models import Subscriber
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory
from tests.subscribers.conftest import html, link, plain, subject

pytestmark = pytest.mark.django_db


@pytest.fixture
def components(db):
    return {
        "api": ComponentFactory(name="API", position=1),
        "dashboard": ComponentFactory(name="Dashboard", position=2),
    }


def subscribe(client, address, components=(), **extra):
    return client.post("/subscribe", {"email": address, "components": [c.pk for c in components]}, **extra)


def open_api_incident(components, *, message="We are looking into elevated API errors."):
    return incident_open(
        actor=CommanderFactory(username="commander"),
        title="API errors",
        level=Level.P2,
        components={components["api"]: Impact.PARTIAL_OUTAGE},
        message=message,
    )


def test_double_opt_in_then_updates_then_preferences_then_one_click_unsubscribe(client, smtp, pipeline, components):
    # The form: email and optional components; the page has the CSRF-protected form.
    page = client.get("/subscribe?email=Reader@Example.com")
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert 'value="reader@example.com"' in page.content.decode().lower()

    with pipeline():
        response = subscribe(client, "Reader@Example.com", [components["api"]])
    assert response.status_code == 302 and response["Location"] == "/subscribe/sent"
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "reader@example.com" and subscriber.status == SubscriberStatus.PENDING
    assert [c.name for c in subscriber.components.all()] == ["API"]

    # Exactly one message: the confirmation, with the list headers and a manage link.
    (confirmation,) = smtp.messages()
    assert confirmation["To"] == "reader@example.com"
    assert confirmation["From"] == "Ersen Status <status@ersen.xyz>"
    assert "Confirm your subscription" in subject(confirmation)
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert confirmation["List-Unsubscribe"].strip().startswith("<http://testserver/subscriptions/unsubscribe/")
    text = plain(confirmation)
    assert "You chose: API." in text and "48 hours" in text
    link(text, "manage")
    confirm_path = link(text, "confirm")
    assert link(html(confirmation), "confirm") == confirm_path

    # Following the link shows a button; only the POST confirms (a mail scanner's GET changes nothing).
    page = client.get(confirm_path)
    assert page.status_code == 200 and "reader@example.com" in page.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.PENDING
    page = client.post(confirm_path)
    assert page.status_code == 200 and "You are subscribed" in page.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.CONFIRMED and subscriber.confirmed_at is not None
    assert AuditEvent.objects.filter(action="subscribers.confirmed", target_id=str(subscriber.pk)).exists()

    # An incident on API reaches the subscriber, with the incident's text and the links.
    smtp.clear()
    with pipeline():
        open_api_incident(components)
    (update,) = smtp.messages()
    assert subject(update) == "[Ersen status] API errors — Investigating"
    assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = plain(update)
    assert "Incident opened: API errors" in body and "We are looking into elevated API errors." in body
    assert "Affected: API" in body
    delivery = NotificationDelivery.objects.get(
        channel=SubscriberChannel.SUBSCRIBER_EMAIL, event="incident.investigating"
    )
    assert delivery.status == DeliveryStatus.SENT and delivery.response == "250 2.0.0 Ok: queued as SUB42"
    assert delivery.target_name == f"subscriber {subscriber.public_id}"  # never the address

    # The manage link: change components without logging in.
    manage_path = link(body, "manage")
    page = client.get(manage_path)
    assert page.status_code == 200 and f'value="{components["api"].pk}" checked' in page.content.decode()
    page = client.post(manage_path, {"components": [components["dashboard"].pk]})
    assert page.status_code == 302
    assert [c.name for c in subscriber.components.all()] == ["Dashboard"]
    changed = AuditEvent.objects.get(action="subscribers.components_changed")
    assert changed.data["before"]["components"] == [components["api"].public_id]
    assert changed.data["after"]["components"] == [components["dashboard"].public_id]

    # Now an API update no longer concerns this subscriber.
    smtp.clear()
    with pipeline():
        incident = open_api_incident(components, message="Another API problem.")
        incident_post_update(actor=CommanderFactory(username="c2"), incident=incident, status="identified", body="Found it.")
    assert smtp.messages() == []

    # One-click unsubscribe (RFC 8058): a POST with no CSRF token, as a mail provider sends it.
    unsubscribe_path = urlsplit_path(update["List-Unsubscribe"].strip().strip("<>"))
    assert link(body, "unsubscribe") == unsubscribe_path
    assert client.get(unsubscribe_path).status_code == 200  # the page with a button; nothing changes
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.CONFIRMED
    provider = Client(enforce_csrf_checks=True)
    response = provider.post(
        unsubscribe_path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    event = AuditEvent.objects.get(action="subscribers.unsubscribed")
    assert event.data["via"] == "one-click (List-Unsubscribe-Post)"

    # Old links are dead, and nothing more is sent.
    assert client.get(manage_path).status_code == 400
    smtp.clear()
    with pipeline():
        open_api_incident({"api": components["dashboard"]}, message="Dashboard down.")
    assert smtp.messages() == []


def urlsplit_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def test_an_unconfirmed_address_receives_the_confirmation_and_nothing_else(client, smtp, pipeline, components):
    with pipeline():
        subscribe(client, "waiting@example.com")
    with pipeline():
        open_api_incident(components)
    (only,) = smtp.messages()
    assert "Confirm your subscription" in subject(only)
    assert not NotificationDelivery.objects.filter(event="incident.investigating", channel__startswith="subscriber")


def test_a_notice_forced_to_an_unconfirmed_address_is_skipped_by_the_channel(smtp, pipeline, components):
    """Defence in depth: even a delivery that names a pending subscriber is not sent."""
    from subscribers import services
    from subscribers.choices import MessageKind

    pending = Subscriber.objects.create(email="pending@example.com", status=SubscriberStatus.PENDING)
    with pipeline():
        delivery = services.queue_email(
            subscriber=pending,
            kind=MessageKind.ALREADY_SUBSCRIBED,
            event="subscribers.already_subscribed",
            subject="x",
            context={"components": []},
        )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert "has not confirmed" in delivery.last_error
    assert smtp.messages() == []


def test_subscribing_again_answers_the_same_whatever_the_address_state(client, smtp, pipeline, components):
    confirmed = Subscriber.objects.create(
        email="known@example.com", status=SubscriberStatus.CONFIRMED, confirmed_at=timezone.now()
    )
    confirmed.components.set([components["dashboard"]])
    answers = []
    for address in ("known@example.com", "new@example.com"):
        with pipeline():
            response = subscribe(client, address, [components["api"]])
        follow = client.get(response["Location"])
        answers.append((response.status_code, response["Location"], follow.status_code, follow.content))
    assert answers[0] == answers[1]
    # The known address was told it is subscribed (with its manage link); its components did not change.
    (told,) = smtp.messages(to="known@example.com")
    assert "already subscribed" in subject(told) and "Dashboard" in plain(told)
    link(plain(told), "manage")
    assert [c.name for c in confirmed.components.all()] == ["Dashboard"]
    (asked,) = smtp.messages(to="new@example.com")
    assert "Confirm" in subject(asked)


def test_an_expired_confirmation_link_says_so_and_changes_nothing(client, smtp, pipeline):
    with pipeline():
        subscribe(client, "late@example.com")
    path = link(plain(smtp.messages()[0]), "confirm")
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        response = client.post(path)
    assert response.status_code == 410
    assert "expired" in response.content.decode() and "48 hours" in response.content.decode()
    assert Subscriber.objects.get().status == SubscriberStatus.PENDING


def test_a_tampered_link_is_refused(client, smtp, pipeline):
    with pipeline():
        subscribe(client, "x@example.com")
    path = link(plain(smtp.messages()[0]), "manage")
    assert client.get(path[:-3] + "AAA").status_code == 400
    assert client.post(path.replace("manage", "unsubscribe")[:-2] + "zz").status_code == 400
    assert Subscriber.objects.get().status == SubscriberStatus.PENDING


@pytest.mark.parametrize(
    "address, message",
    [
        ("", "Enter your email address."),
        ("not-an-address", "is not an email address"),
        ("someone@localhost", "is not an email address"),
        ("someone@[127.0.0.1]", "has no internet domain"),
        ("a@b@example.com", "is not an email address"),
        ("x" * 250 + "@example.com", "at most 254 characters"),
    ],
)
def test_invalid_addresses_are_rejected_with_a_clear_message(client, address, message):
    response = subscribe(client, address)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Subscriber.objects.exists()


def test_the_subscribe_form_is_csrf_protected(db, components):
    browser = Client(enforce_csrf_checks=True)
    assert subscribe(browser, "csrf@example.com").status_code == 403
    page = browser.get("/subscribe")
    token = page.cookies["csrftoken"].value
    response = browser.post("/subscribe", {"email": "csrf@example.com", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Subscriber.objects.filter(email="csrf@example.com").exists()


def test_unknown_components_are_refused(client, components):
    response = client.post("/subscribe", {"email": "a@example.com", "components": [999999]})
    assert response.status_code == 400
    assert not Subscriber.objects.exists()
