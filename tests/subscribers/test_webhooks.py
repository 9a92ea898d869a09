"""Webhook subscribers: Statuspage-format payloads, HMAC signature checked by a real HTTP receiver,
auto-disable after repeated failures, re-enable, masking of the URL."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import pytest
from werkzeug.wrappers import Response

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.status.choices import ComponentStatus
from incidents.choices import Impact, Level
from incidents.services import incident_open, incident_post_update
from subscribers import services
from subscribers.choices import WebhookStatus
from subscribers.fanout import component_changes_detect
from subscribers.models import WebhookSubscriber
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory

pytestmark = pytest.mark.django_db

TOKEN = "acmeSECRETpathTOKEN0123456789"
HOOK_PATH = f"/hooks/{TOKEN}"
INCIDENT_KEYS = [
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink",
    "started_at", "page_id", "incident_updates", "components",
]  # fmt: skip
COMPONENT_KEYS = [
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
    "group_id", "page_id", "group", "only_show_if_degraded",
]  # fmt: skip


class Receiver:
    """What a partner's endpoint does: verify the signature with its copy of the secret, keep the payload."""

    def __init__(self, secret: str, status: int = 200):
        self.secret = secret
        self.status = status
        self.received = []

    def __call__(self, request):
        body = request.get_data()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, request.headers.get("X-Ersen-Signature", ""))
        self.received.append({"payload": json.loads(body), "headers": dict(request.headers), "verified": verified})
        return Response("ok" if self.status < 400 else "boom", status=self.status)


@pytest.fixture
def api(db):
    api = ComponentFactory(name="API", position=1)
    component_changes_detect()  # what subscribers were last told: the baseline
    return api


@pytest.fixture
def hook(httpserver, users):
    webhook, secret = services.webhook_create(
        actor=users["operator"], name="Acme bridge", url=httpserver.url_for(HOOK_PATH), contact="noc@acme.example"
    )
    receiver = Receiver(secret)
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_handler(receiver)
    return webhook, receiver


def open_incident(api, message="Elevated error rates on the API."):
    return incident_open(
        actor=CommanderFactory(username="ic"),
        title="API errors",
        level=Level.P2,
        components={api: Impact.MAJOR_OUTAGE},
        message=message,
    )


def test_incident_payload_has_the_statuspage_shape_and_a_verifiable_signature(client, api, hook, pipeline):
    webhook, receiver = hook
    with pipeline():
        incident = open_incident(api)
    by_kind = {tuple(r["payload"]): r for r in receiver.received}
    received = by_kind[("meta", "page", "incident")]
    assert received["verified"], "HMAC-SHA256 of the body with the webhook's secret"
    payload = received["payload"]
    assert payload["page"] == {
        "id": "ersen",
        "status_indicator": "critical",
        "status_description": "Major System Outage",
    }
    assert list(payload["incident"]) == INCIDENT_KEYS
    assert payload["incident"]["id"] == incident.public_id and payload["incident"]["status"] == "investigating"
    assert payload["incident"]["incident_updates"][0]["body"] == "Elevated error rates on the API."
    assert [c["name"] for c in payload["incident"]["components"]] == ["API"]
    assert payload["meta"]["unsubscribe"].startswith("http://testserver/subscriptions/unsubscribe/")
    headers = received["headers"]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Ersen-Event"] == "incident.investigating" and headers["X-Ersen-Webhook"] == webhook.public_id
    # The same incident object the public API serves.
    public = json.loads(client.get("/api/v2/incidents.json").content)["incidents"][0]
    assert payload["incident"]["incident_updates"] == public["incident_updates"]

    # The incident changed the API's public status: webhooks also get Statuspage's component_update.
    update = by_kind[("meta", "page", "component_update", "component")]
    assert update["verified"]
    assert update["payload"]["component_update"]["old_status"] == "operational"
    assert update["payload"]["component_update"]["new_status"] == "major_outage"
    assert update["payload"]["component_update"]["component_id"] == api.public_id
    assert list(update["payload"]["component"]) == COMPONENT_KEYS
    assert update["payload"]["component"]["status"] == "major_outage"

    delivery = NotificationDelivery.objects.filter(channel=SubscriberChannel.SUBSCRIBER_WEBHOOK).first()
    assert delivery.status == DeliveryStatus.SENT and delivery.response == "HTTP 200 OK"
    assert delivery.target_name == f"webhook Acme bridge ({urlsplit(webhook.url).netloc})"
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0 and webhook.last_success_at is not None


def test_a_manual_component_status_reaches_webhooks_and_email(api, hook, pipeline, smtp):
    from tests.subscribers.factories import SubscriberFactory

    _, receiver = hook
    SubscriberFactory(email="ops-watcher@example.com")
    with pipeline():
        api.status = ComponentStatus.DEGRADED_PERFORMANCE
        api.save()
    (received,) = receiver.received
    assert received["verified"] and received["payload"]["component_update"]["new_status"] == "degraded_performance"
    assert received["payload"]["page"]["status_indicator"] == "minor"
    (mail,) = smtp.messages()
    assert str(mail["Subject"]).strip() == "[Ersen status] API: Degraded performance (was Operational)"


def test_an_incident_driven_component_change_is_not_emailed_twice(api, pipeline, smtp):
    """Email subscribers hear about the incident itself; the derived component change goes to webhooks only."""
    from tests.subscribers.factories import SubscriberFactory

    SubscriberFactory(email="reader@example.com")
    with pipeline():
        open_incident(api)
    (mail,) = smtp.messages()
    assert "API errors" in str(mail["Subject"])


def test_a_webhook_failing_10_times_in_a_row_is_disabled_with_the_reason_and_can_be_re_enabled(
    client, api, hook, pipeline, users
):
    webhook, receiver = hook
    receiver.status = 503
    with pipeline():
        incident = open_incident(api)  # two notices: the incident and the API's component_update
    for number in range(8):
        with pipeline():
            incident_post_update(
                actor=users["commander"], incident=incident, status="identified", body=f"Update {number}"
            )
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    assert webhook.consecutive_failures == 10
    assert webhook.disabled_reason.startswith("10 consecutive failed attempts (limit 10); last: HTTP 503")
    assert len(receiver.received) == 10
    event = AuditEvent.objects.get(action="subscribers.webhook.disabled")
    assert event.actor_name == "system:subscriber-webhooks" and event.data["after"] == {"status": "disabled"}
    # The reason is on the admin page.
    client.force_login(users["operator"])
    page = client.get(f"/admin/subscribers/webhooksubscriber/{webhook.pk}/change/").content.decode()
    assert "10 consecutive failed attempts" in page and "Re-enable" in page

    # Disabled: new notices skip it, queued retries are skipped.
    with pipeline():
        incident_post_update(actor=users["commander"], incident=incident, status="monitoring", body="Watching")
    assert len(receiver.received) == 10

    # Re-enabled by an operator (a POST through the workflow button; GET only asks).
    url = f"/admin/subscribers/webhooksubscriber/{webhook.pk}/do/enable/"
    assert client.get(url).status_code == 200
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    receiver.status = 200
    assert client.post(url).status_code == 302
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE and webhook.consecutive_failures == 0
    enabled = AuditEvent.objects.get(action="subscribers.webhook.enabled")
    assert enabled.actor_name == "operator"
    assert enabled.data["before"]["status"] == "disabled" and enabled.data["before"]["consecutive_failures"] == 10
    with pipeline():
        incident_post_update(actor=users["commander"], incident=incident, status="monitoring", body="Still watching")
    assert len(receiver.received) == 11 and receiver.received[-1]["verified"]


def test_re_enabling_needs_the_permission(client, api, hook, users):
    webhook, _ = hook
    services.webhook_disable(actor=users["operator"], webhook=webhook, reason="partner maintenance")
    client.force_login(users["viewer"])
    assert client.post(f"/admin/subscribers/webhooksubscriber/{webhook.pk}/do/enable/").status_code == 403
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED


def test_the_webhook_url_never_reaches_an_error_or_the_audit_trail(users, api, pipeline):
    webhook, _ = services.webhook_create(
        actor=users["operator"], name="Broken", url=f"http://127.0.0.1:9/hooks/{TOKEN}?key={TOKEN}X"
    )
    with pipeline():
        open_incident(api)
    delivery = NotificationDelivery.objects.filter(channel=SubscriberChannel.SUBSCRIBER_WEBHOOK).first()
    assert delivery.status == DeliveryStatus.QUEUED and delivery.attempts == 1  # connection refused: retried later
    assert "ConnectionError" in delivery.last_error and "[masked:webhook URL]" in delivery.last_error, (
        delivery.last_error
    )
    webhook.refresh_from_db()
    texts = [delivery.last_error, delivery.response, webhook.last_error, webhook.last_response]
    texts += [json.dumps(e.data) for e in AuditEvent.objects.all()] + [e.target_repr for e in AuditEvent.objects.all()]
    for text in texts:
        assert TOKEN not in text


def test_the_unsubscribe_link_of_a_payload_disables_the_webhook(client, api, hook, pipeline):
    webhook, receiver = hook
    with pipeline():
        open_incident(api)
    path = urlsplit(receiver.received[0]["payload"]["meta"]["unsubscribe"]).path
    assert client.get(path).status_code == 200
    assert WebhookSubscriber.objects.get().status == WebhookStatus.ACTIVE  # GET only asks
    assert client.post(path).status_code == 200
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    assert webhook.disabled_reason == "unsubscribed through the link in a payload (meta.unsubscribe)"
