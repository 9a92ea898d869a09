"""Senders of the two per-subscriber channels, registered with the notifications app (`apps.py`).

`sending.py` (notifications) claims each delivery, calls `send()` here outside any transaction, and
records the outcome, retries with backoff or gives up — exactly as for its own channels. What these
classes add is the recipient:

- `SubscriberEmailChannel` is the notifications EmailChannel (same SMTP backend, same reading of SMTP
  replies) sending to the one subscriber of the delivery, with `List-Unsubscribe` /
  `List-Unsubscribe-Post` (RFC 8058 one-click), `List-Id`, thread headers and the `.ics` of a window.
  It refuses (skips) anything but a confirmation request to an address that is not confirmed.
- `SubscriberWebhookChannel` POSTs the stored JSON body byte for byte, signed with the webhook's secret
  (`X-Ersen-Signature: sha256=<hex>` = HMAC-SHA256 of the body), and counts consecutive failures so a
  dead endpoint is disabled (`services.webhook_record_attempt`).

The recipient is found through `SubscriberMessage` (a resent delivery through the one it resends).
Addresses and webhook URLs never reach a stored error or a log line: they are replaced by the
subscriber's public id / "[masked:webhook URL]".
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import time
from email.mime.text import MIMEText
from urllib.parse import urlsplit

import requests
from django.conf import settings

from ersen_ops.notifications import channels as notification_channels
from ersen_ops.notifications import policy as delivery_policy
from ersen_ops.notifications.channels import (
    BaseChannel,
    DeliveryError,
    EmailChannel,
    NotConfigured,
    PermanentFailure,
    Progress,
    Sent,
    TemporaryFailure,
)
from ersen_ops.notifications.choices import SubscriberChannel
from ersen_ops.notifications.masking import LOGGER_NAME, fragments, mask
from ersen_ops.notifications.outbound import WebhookRefused, webhook_post
from subscribers import tokens
from subscribers.choices import MessageKind, SubscriberStatus, WebhookStatus

logger = logging.getLogger(LOGGER_NAME)

USER_AGENT = "ErsenOps-Subscriptions/1.0"
SIGNATURE_HEADER = "X-Ersen-Signature"
MAX_INLINE_WAITS = notification_channels.MAX_INLINE_WAITS
MASKED_URL = "[masked:webhook URL]"
MIN_FRAGMENT = 8


def subscriber_message(delivery):
    """The SubscriberMessage of `delivery`, or of the delivery it resends (cached on the instance)."""
    if hasattr(delivery, "_subscriber_message_cache"):
        return delivery._subscriber_message_cache
    from ersen_ops.notifications.models import NotificationDelivery
    from subscribers.models import SubscriberMessage

    found, current, hops = None, delivery, 0
    while current is not None and hops < 20:
        found = (
            SubscriberMessage.objects.select_related("subscriber", "webhook", "notice")
            .filter(delivery_id=current.pk)
            .first()
        )
        if found is not None or not current.resend_of_id:
            break
        current = NotificationDelivery.objects.filter(pk=current.resend_of_id).first()
        hops += 1
    delivery._subscriber_message_cache = found
    return found


# --- email ---------------------------------------------------------------------------------------------------

_EXTRAS: contextvars.ContextVar = contextvars.ContextVar("subscriber_email_extras", default=None)


class _AddSubscriberParts:
    """Wraps the notifications email backend: adds this subscriber's headers and attachment to the message
    EmailChannel builds, then sends through the real backend (whose reply and refusals it passes on)."""

    def __init__(self, backend, extras: dict):
        self.backend = backend
        self.extras = extras

    def send_messages(self, messages):
        for message in messages:
            message.from_email = self.extras["from_email"]
            message.extra_headers.update(self.extras["headers"])
            for part in self.extras["attachments"]:
                message.attach(part)
        return self.backend.send_messages(messages)

    @property
    def last_reply(self) -> str:
        reply = getattr(self.backend, "last_reply", "")
        return reply or f"accepted by {type(self.backend).__module__.rsplit('.', 1)[-1]} backend"

    @property
    def refused(self) -> dict:
        return getattr(self.backend, "refused", {}) or {}


def _calendar_part(ics: str, filename: str) -> MIMEText:
    part = MIMEText(ics, "calendar", "utf-8")
    part.set_param("method", "PUBLISH")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


class SubscriberEmailChannel(EmailChannel):
    code = SubscriberChannel.SUBSCRIBER_EMAIL

    def _subscriber(self, delivery):
        message = subscriber_message(delivery)
        return message, (message.subscriber if message is not None else None)

    def not_configured_reason(self, delivery) -> str:
        message, subscriber = self._subscriber(delivery)
        if message is None:
            return "not sent: no subscriber is linked to this delivery"
        if subscriber is None:
            return "not sent: the subscriber was deleted"
        if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
            return f"not sent: {subscriber} unsubscribed"
        if subscriber.status != SubscriberStatus.CONFIRMED and message.kind != MessageKind.CONFIRMATION:
            # Double opt-in: an unconfirmed address gets the confirmation request and nothing else.
            return f"not sent: {subscriber} has not confirmed the subscription"
        return ""

    def recipients(self, delivery) -> list[str]:
        _, subscriber = self._subscriber(delivery)
        return [subscriber.email] if subscriber is not None else []

    def target_name(self, delivery) -> str:
        _, subscriber = self._subscriber(delivery)
        return str(subscriber) if subscriber is not None else "erased subscriber"

    def message_id(self, delivery) -> str:
        return super().message_id(delivery).replace("<notification-", "<subscriber-notice-", 1)

    def extras(self, delivery) -> dict:
        message, subscriber = self._subscriber(delivery)
        unsubscribe = tokens.unsubscribe_url(subscriber)
        host = urlsplit(settings.OPS_STATUS_PAGE_URL).hostname or "ersen-ops.invalid"
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{settings.OPS_STATUS_PAGE_NAME} status updates <updates.{host}>",
            "Precedence": "bulk",
        }
        attachments = []
        notice = message.notice
        if notice is not None and notice.related_public_id:
            # Every message about one incident or window threads together in a mail client.
            thread = f"<{notice.related_public_id}@{host}>"
            headers["References"] = thread
            headers["In-Reply-To"] = thread
        if notice is not None and notice.ics:
            attachments.append(_calendar_part(notice.ics, f"{notice.related_public_id or 'maintenance'}.ics"))
        from_email = settings.OPS_SUBSCRIBER_EMAIL_FROM or settings.DEFAULT_FROM_EMAIL
        return {"headers": headers, "attachments": attachments, "from_email": from_email}

    def _backend(self):
        backend = super()._backend()
        extras = _EXTRAS.get()
        return _AddSubscriberParts(backend, extras) if extras is not None else backend

    def send(self, delivery, progress: Progress) -> Sent:
        _, subscriber = self._subscriber(delivery)
        token = _EXTRAS.set(self.extras(delivery))
        try:
            return super().send(delivery, progress)
        except DeliveryError as exc:
            # SMTP refusals quote the address: keep it out of the stored error and the audit trail.
            exc.error = exc.error.replace(subscriber.email, str(subscriber))
            exc.response = exc.response.replace(subscriber.email, str(subscriber))
            raise
        finally:
            _EXTRAS.reset(token)


# --- webhooks ------------------------------------------------------------------------------------------------


def mask_url(text: str, url: str) -> str:
    text = mask(text)
    for fragment in sorted(fragments(url, min_fragment=MIN_FRAGMENT), key=len, reverse=True):
        text = text.replace(fragment, MASKED_URL)
    return text


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(header)
        return max(0.0, parsed.timestamp() - time.time()) if parsed is not None else None


class SubscriberWebhookChannel(BaseChannel):
    code = SubscriberChannel.SUBSCRIBER_WEBHOOK

    def _webhook(self, delivery):
        message = subscriber_message(delivery)
        return message.webhook if message is not None else None

    def not_configured_reason(self, delivery) -> str:
        webhook = self._webhook(delivery)
        if webhook is None:
            return "not sent: the webhook subscriber was deleted (or none is linked)"
        if webhook.status != WebhookStatus.ACTIVE:
            return f"not sent: webhook “{webhook.name}” is disabled ({webhook.disabled_reason[:200]})"
        return ""

    def target_name(self, delivery) -> str:
        webhook = self._webhook(delivery)
        return f"webhook {webhook.name} ({webhook.host})" if webhook is not None else "deleted webhook"

    def headers(self, delivery, webhook, body: bytes) -> dict:
        from subscribers.services import signature

        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(webhook.secret, body),
            "X-Ersen-Event": delivery.event,
            "X-Ersen-Delivery": str(delivery.resend_of_id or delivery.pk),
            "X-Ersen-Webhook": webhook.public_id,
        }

    def send(self, delivery, progress: Progress) -> Sent:
        from subscribers.services import webhook_record_attempt

        webhook = self._webhook(delivery)
        body = (delivery.message or "").encode("utf-8")
        progress.total(1)
        try:
            response = self._post(webhook, body, self.headers(delivery, webhook, body))
        except DeliveryError as exc:
            exc.error = mask_url(exc.error, webhook.url)
            exc.response = mask_url(exc.response, webhook.url)
            disabled = webhook_record_attempt(
                webhook_id=webhook.pk, ok=False, response=exc.response, error=exc.error, delivery_id=delivery.pk
            )
            if disabled:
                logger.warning("webhook %s disabled after repeated failures", webhook.public_id)
            raise
        described = f"HTTP {response.status_code} {response.reason or ''}".strip()
        webhook_record_attempt(webhook_id=webhook.pk, ok=True, response=described, delivery_id=delivery.pk)
        progress.part_sent(1)
        return Sent(response=described)

    def _post(self, webhook, body: bytes, headers: dict) -> requests.Response:
        waits = 0
        while True:
            try:
                response = webhook_post(
                    webhook.url,
                    data=body,
                    headers=headers,
                    timeout=(settings.OPS_NOTIFY_CONNECT_TIMEOUT, settings.OPS_NOTIFY_READ_TIMEOUT),
                )
            except WebhookRefused as exc:  # an internal address or a redirect: retrying cannot help
                raise PermanentFailure(str(exc), response="not sent") from None
            except (
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL,
            ):
                raise PermanentFailure("the webhook URL is not a valid http(s) URL", response="not sent") from None
            except requests.RequestException as exc:
                raise TemporaryFailure(f"{type(exc).__name__}: {exc}", response="no response") from None
            outcome = delivery_policy.http_outcome(response.status_code)
            if outcome == delivery_policy.SENT:
                return response
            described = f"HTTP {response.status_code} {response.reason or ''}".strip()
            text = response.text[:2000]
            if response.status_code == 429:
                retry_after = _retry_after(response)
                if delivery_policy.may_wait_inline(
                    retry_after=retry_after,
                    limit=settings.OPS_NOTIFY_INLINE_WAIT,
                    waits_so_far=waits,
                    max_waits=MAX_INLINE_WAITS,
                ):
                    waits += 1
                    notification_channels.sleep(retry_after)
                    continue
                raise TemporaryFailure(
                    f"HTTP 429 rate limited (retry_after={retry_after}): {text}",
                    response=described,
                    retry_after=retry_after,
                )
            if outcome == delivery_policy.RETRY:
                raise TemporaryFailure(f"HTTP {response.status_code}: {text}", response=described)
            raise PermanentFailure(f"HTTP {response.status_code}: {text}", response=described)


__all__ = ["SubscriberEmailChannel", "SubscriberWebhookChannel", "NotConfigured", "mask_url"]
