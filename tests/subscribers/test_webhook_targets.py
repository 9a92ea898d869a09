"""Partner webhooks and the target guard: a literal internal address is refused when it is registered, in the
words of the send-time refusal; a name that resolves to an internal address is refused at send time, recorded on
the delivery and on the webhook, and never retried."""

from __future__ import annotations

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from ersen_ops.notifications.choices import DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery
from subscribers import services
from subscribers.admin import WebhookSubscriberForm
from subscribers.models import WebhookSubscriber
from tests.subscribers.test_webhooks import HOOK_PATH, api, hook, open_incident  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

PRIVATE = "Refused: 10.0.0.5 is a private address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS."


def test_registering_a_webhook_at_a_literal_internal_address_is_refused_with_the_reason(users, settings):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = []
    with pytest.raises(DomainError) as refused:
        services.webhook_create(actor=users["operator"], name="Inside", url="http://10.0.0.5/hook")
    assert str(refused.value) == PRIVATE
    form = WebhookSubscriberForm(data={"name": "Metadata", "url": "http://169.254.169.254/latest/meta-data/"})
    assert not form.is_valid()
    assert form.errors["url"] == [
        "Refused: 169.254.169.254 is a cloud metadata address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS."
    ]
    form = WebhookSubscriberForm(data={"name": "Inside v6", "url": "https://[::1]:8443/hook"})
    assert not form.is_valid() and "::1 is a loopback address" in form.errors["url"][0]
    assert not WebhookSubscriber.objects.exists()
    assert not AuditEvent.objects.filter(action="subscribers.webhook.created").exists()


def test_an_allowed_network_may_be_registered(users, settings):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = ["10.0.0.0/8"]
    webhook, _ = services.webhook_create(actor=users["operator"], name="Bridge", url="http://10.0.0.5/hook")
    assert webhook.url == "http://10.0.0.5/hook"


def test_a_name_resolving_to_loopback_is_refused_at_send_time_and_not_retried(api, hook, pipeline, settings):  # noqa: F811
    webhook, receiver = hook  # registered by name ("localhost"): nothing to refuse at form time
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = []
    with pipeline():
        open_incident(api)
    deliveries = NotificationDelivery.objects.filter(channel=SubscriberChannel.SUBSCRIBER_WEBHOOK)
    assert deliveries.exists() and receiver.received == []
    for delivery in deliveries:
        assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
        assert delivery.last_error.startswith("refused: localhost resolves to ")
        assert delivery.last_error.endswith(", a loopback address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS")
        assert HOOK_PATH not in delivery.last_error
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == deliveries.count()
    assert webhook.last_error.startswith("refused: localhost resolves to ")
