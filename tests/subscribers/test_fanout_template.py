"""A batch's emails are one serialised message with each subscriber's parts filled in (notifications.mailtemplate):
what arrives is byte for byte the message built for that subscriber on its own (headers, signed links, non-ASCII
subject and page name), an address the template cannot take verbatim is built on its own, and a refused
recipient still fails alone over the shared connection."""

from __future__ import annotations

import re

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.channels import get_channel
from ersen_ops.notifications.choices import DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.mailtemplate import MessageTemplate, TemplateRefused
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import deliveries_send
from subscribers import content
from subscribers.channels import SubscriberEmailChannel
from subscribers.models import Subscriber
from tests.receivers import Mailbox, smtp_receiver
from tests.subscribers.factories import SubscriberFactory
from tests.subscribers.test_fanout_scale import fanned_out

pytestmark = pytest.mark.django_db

_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


@pytest.fixture
def mailbox(settings):
    with smtp_receiver(settings, Mailbox()) as box:
        yield box


@pytest.fixture
def builds(monkeypatch):
    """Counts the messages built as objects (a templated batch builds one: its template)."""
    calls = []
    real = SubscriberEmailChannel.build_message

    def counting(self, delivery, placeholders=None):
        calls.append(placeholders is not None)
        return real(self, delivery, placeholders)

    monkeypatch.setattr(SubscriberEmailChannel, "build_message", counting)
    return calls


def built_alone(delivery_id: int, received: bytes) -> bytes:
    """The message Django builds for this delivery on its own, with the received Date and MIME boundaries."""
    delivery = NotificationDelivery.objects.select_related("content").get(pk=delivery_id)
    channel = get_channel(SubscriberChannel.SUBSCRIBER_EMAIL)
    mime = channel.build_message(delivery).message()
    date = re.search(rb"^Date: (.+?)\r?$", received, re.M).group(1).decode()
    mime.replace_header("Date", date)
    data = mime.as_bytes(linesep="\r\n")
    for ours, theirs in zip(_BOUNDARY.findall(data), _BOUNDARY.findall(received), strict=True):
        data = data.replace(ours, theirs)
    return data


def test_each_recipient_receives_exactly_the_message_built_for_them_alone(
    settings, mailbox, builds, django_capture_on_commit_callbacks
):
    settings.OPS_STATUS_PAGE_NAME = "Ersen Zürich"  # non-ASCII in Subject, List-Id and body
    ids = fanned_out(5, django_capture_on_commit_callbacks)
    builds.clear()
    assert deliveries_send(delivery_ids=ids) == {"sent": 5}
    assert builds == [True], "one template for the batch, no message built per recipient"
    by_address = {s.email: s for s in Subscriber.objects.all()}
    assert len(mailbox.envelopes) == 5
    seen_links = set()
    for envelope in mailbox.envelopes:
        (address,) = envelope.rcpt_tos
        delivery = NotificationDelivery.objects.get(subscriber_message__subscriber=by_address[address])
        received = envelope.original_content
        assert received.replace(b"\r\n", b"\n") == built_alone(delivery.pk, received).replace(b"\r\n", b"\n")
        message = mailbox.messages(to=address)[0]
        assert message["To"] == address
        assert f"subscriber-notice-{delivery.pk}." in message["Message-ID"]
        assert "Zürich" in message["Subject"]
        unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
        assert unsubscribe.startswith("http") and "/subscriptions/unsubscribe/" in unsubscribe
        text = message.get_body(("plain",)).get_content()
        assert content.MANAGE_PLACEHOLDER not in text and content.UNSUBSCRIBE_PLACEHOLDER not in text
        seen_links.add(unsubscribe)
    assert len(seen_links) == 5, "each subscriber's own signed link"
    (event,) = AuditEvent.objects.filter(action="notification.batch_attempted")
    assert len(event.data["sent"]) == 5


def test_an_address_the_template_cannot_take_verbatim_is_built_on_its_own(
    settings, mailbox, builds, django_capture_on_commit_callbacks
):
    SubscriberFactory(email="leser@bücher.example")  # IDN: Django writes the domain as punycode
    ids = fanned_out(3, django_capture_on_commit_callbacks)
    builds.clear()
    assert deliveries_send(delivery_ids=ids) == {"sent": 4}
    assert builds.count(False) == 1, "only the IDN address's message is built on its own"
    (idn,) = [e for e in mailbox.envelopes if e.rcpt_tos == ["leser@xn--bcher-kva.example"]]
    delivery = NotificationDelivery.objects.get(subscriber_message__subscriber__email="leser@bücher.example")
    received = idn.original_content
    assert received.replace(b"\r\n", b"\n") == built_alone(delivery.pk, received).replace(b"\r\n", b"\n")


def test_a_refused_recipient_fails_alone_over_the_shared_connection(
    settings, mailbox, builds, django_capture_on_commit_callbacks
):
    ids = fanned_out(4, django_capture_on_commit_callbacks)
    gone = Subscriber.objects.order_by("pk").values_list("email", flat=True)[1]
    mailbox.refuse[gone] = "550 5.1.1 No such user"
    assert deliveries_send(delivery_ids=ids) == {"sent": 3, "failed": 1}
    refused = NotificationDelivery.objects.get(subscriber_message__subscriber__email=gone)
    assert refused.status == DeliveryStatus.FAILED and refused.response.startswith("550")
    assert gone not in refused.last_error
    assert sorted(r for e in mailbox.envelopes for r in e.rcpt_tos) == sorted(
        Subscriber.objects.exclude(email=gone).values_list("email", flat=True)
    )


def test_a_value_that_would_change_the_encoding_is_not_substituted():
    template = MessageTemplate(b"To: __T__\r\n\r\nHello __L__\r\n", ["__T__", "__L__"])
    assert template.render({"__T__": "a@example.com", "__L__": "https://x/1"}) == (
        b"To: a@example.com\r\n\r\nHello https://x/1\r\n"
    )
    assert template.render({"__T__": "a@example.com", "__L__": "https://x/ü"}) is None  # not ASCII
    assert template.render({"__T__": "a@example.com, " + "b" * 80, "__L__": "x"}) is None  # the header would fold
    assert template.render({"__T__": "a b", "__L__": "x y"}) is not None  # short header, body line: unchanged
    assert template.render({"__T__": "a@example.com", "__L__": "h" * 1000}) is None  # past 998 octets
    assert template.render({"__T__": "a@example.com"}) is None  # a value missing
    # One word too long for a header line goes on a continuation line, as the generator writes it.
    long = "<https://status.example/" + "t" * 80 + ">"
    assert template.render({"__T__": long, "__L__": "x"}) == f"To: \r\n {long}\r\n\r\nHello x\r\n".encode()


def test_a_placeholder_inside_an_encoded_part_refuses_the_template():
    data = (
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello __L__ =C3=BC\r\n"
    )
    with pytest.raises(TemplateRefused):
        MessageTemplate(data, ["__L__"])
