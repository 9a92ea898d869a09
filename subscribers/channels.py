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

import email.utils
import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
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
from subscribers import content, tokens
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


def _calendar_part(ics: str, filename: str) -> MIMEText:
    part = MIMEText(ics, "calendar", "utf-8")
    part.set_param("method", "PUBLISH")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _load_messages(deliveries) -> None:
    """Cache the SubscriberMessage (subscriber or webhook, notice) of many deliveries with one query."""
    from subscribers.models import SubscriberMessage

    pending = {d.pk: d for d in deliveries if not hasattr(d, "_subscriber_message_cache")}
    if not pending:
        return
    from subscribers.models import Notice

    messages = list(
        SubscriberMessage.objects.select_related("subscriber", "webhook").filter(delivery_id__in=list(pending))
    )
    # One instance per notice (its .ics and text are large), shared by every message of the batch.
    notices = Notice.objects.in_bulk({m.notice_id for m in messages if m.notice_id})
    for message in messages:
        if message.notice_id:
            message.notice = notices[message.notice_id]
        pending.pop(message.delivery_id)._subscriber_message_cache = message
    # The rest (resends) are found one by one through the delivery they resend (subscriber_message()).


def _hide_address(exc: DeliveryError, subscriber) -> DeliveryError:
    # SMTP refusals quote the address: keep it out of the stored error and the audit trail.
    if subscriber is not None and subscriber.email:
        exc.error = exc.error.replace(subscriber.email, str(subscriber))
        exc.response = exc.response.replace(subscriber.email, str(subscriber))
    return exc


class SubscriberEmailChannel(EmailChannel):
    code = SubscriberChannel.SUBSCRIBER_EMAIL
    batched = True

    def _subscriber(self, delivery):
        message = subscriber_message(delivery)
        return message, (message.subscriber if message is not None else None)

    def prepare(self, deliveries) -> None:
        _load_messages(deliveries)

    def recipient_ref(self, delivery) -> str:
        _, subscriber = self._subscriber(delivery)
        return subscriber.public_id if subscriber is not None else f"erased-{delivery.pk}"

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

    def texts(self, delivery) -> tuple[str, str]:
        if not delivery.content_id:
            return super().texts(delivery)
        from subscribers.content import personalise

        _, subscriber = self._subscriber(delivery)
        # The notice's text is stored once with placeholders; this subscriber's signed links go in here.
        return personalise(delivery.text, subscriber), personalise(delivery.text_html, subscriber)

    # A batch of one notice's emails is one serialised message with each subscriber's parts filled in
    # (notifications.mailtemplate): the links of content.personalise, the address, the Message-ID.
    placeholders = (content.MANAGE_PLACEHOLDER, content.UNSUBSCRIBE_PLACEHOLDER, content.CONFIRM_PLACEHOLDER)

    def template_key(self, delivery):
        return ("content", delivery.content_id) if delivery.content_id else None

    def template_texts(self, delivery) -> tuple[str, str]:
        return delivery.text, delivery.text_html

    def personal_values(self, delivery, needed: frozenset[str]) -> dict[str, str] | None:
        _, subscriber = self._subscriber(delivery)
        if subscriber is None or not subscriber.email:
            return None
        values = {"to": subscriber.email, "message_id": self.message_id(delivery)}
        if content.MANAGE_PLACEHOLDER in needed or content.UNSUBSCRIBE_PLACEHOLDER in needed:
            token = tokens.manage_token(subscriber)
            values[content.MANAGE_PLACEHOLDER] = tokens.public_url(f"/subscriptions/manage/{token}")
            values[content.UNSUBSCRIBE_PLACEHOLDER] = tokens.public_url(f"/subscriptions/unsubscribe/{token}")
        if content.CONFIRM_PLACEHOLDER in needed:
            values[content.CONFIRM_PLACEHOLDER] = tokens.confirm_url(subscriber)
        return values

    def extras(self, delivery, placeholders: dict[str, str] | None = None) -> dict:
        message, subscriber = self._subscriber(delivery)
        # In a batch's template the link is the placeholder the subscriber's own link replaces.
        unsubscribe = (
            content.UNSUBSCRIBE_PLACEHOLDER if placeholders is not None else tokens.unsubscribe_url(subscriber)
        )
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

    def build_message(self, delivery, placeholders: dict[str, str] | None = None):
        message = super().build_message(delivery, placeholders)
        extras = self.extras(delivery, placeholders)
        message.from_email = extras["from_email"]
        message.extra_headers.update(extras["headers"])
        for part in extras["attachments"]:
            message.attach(part)
        return message

    def send(self, delivery, progress: Progress) -> Sent:
        _, subscriber = self._subscriber(delivery)
        try:
            return super().send(delivery, progress)
        except DeliveryError as exc:
            raise _hide_address(exc, subscriber) from None

    def send_batch(self, deliveries, progress_for, on_result) -> None:
        def report(delivery, outcome):
            if isinstance(outcome, DeliveryError):
                outcome = _hide_address(outcome, self._subscriber(delivery)[1])
            on_result(delivery, outcome)

        super().send_batch(deliveries, progress_for, report)


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
    batched = True

    def prepare(self, deliveries) -> None:
        _load_messages(deliveries)

    def recipient_ref(self, delivery) -> str:
        webhook = self._webhook(delivery)
        return webhook.public_id if webhook is not None else f"deleted-{delivery.pk}"

    def send_batch(self, deliveries, progress_for, on_result) -> None:
        """POST to many endpoints at once, at most OPS_NOTIFY_WEBHOOK_CONCURRENCY in flight (a slow endpoint holds
        one thread, not the batch). Each POST goes through the same SSRF guard (outbound.webhook_post); the
        threads only talk HTTP — what each answer means is recorded here, in the calling thread."""
        concurrency = settings.OPS_NOTIFY_WEBHOOK_CONCURRENCY
        if len(deliveries) <= 1 or concurrency <= 1:
            return super().send_batch(deliveries, progress_for, on_result)

        def post(delivery):
            webhook = self._webhook(delivery)
            body = (delivery.message or "").encode("utf-8")
            try:
                return self._post(webhook, body, self.headers(delivery, webhook, body))
            except DeliveryError as exc:
                return exc
            except Exception as exc:  # a bug or an unexpected library error: this delivery only, retried
                return TemporaryFailure(f"{type(exc).__name__}: {exc}", response="error")

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = {pool.submit(post, delivery): delivery for delivery in deliveries}
            for future in as_completed(futures):
                delivery = futures[future]
                progress = progress_for(delivery)
                progress.total(1)
                try:
                    sent = self._record(delivery, future.result())
                except DeliveryError as exc:
                    on_result(delivery, exc)
                else:
                    progress.part_sent(1)
                    on_result(delivery, sent)

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
        webhook = self._webhook(delivery)
        body = (delivery.message or "").encode("utf-8")
        progress.total(1)
        try:
            response = self._post(webhook, body, self.headers(delivery, webhook, body))
        except DeliveryError as exc:
            response = exc
        sent = self._record(delivery, response)
        progress.part_sent(1)
        return sent

    def _record(self, delivery, response) -> Sent:
        """Count the attempt on the webhook (a dead endpoint is disabled); the Sent, or the masked DeliveryError."""
        from subscribers.services import webhook_record_attempt

        webhook = self._webhook(delivery)
        if isinstance(response, DeliveryError):
            exc = response
            exc.error = mask_url(exc.error, webhook.url)
            exc.response = mask_url(exc.response, webhook.url)
            disabled = webhook_record_attempt(
                webhook_id=webhook.pk, ok=False, response=exc.response, error=exc.error, delivery_id=delivery.pk
            )
            if disabled:
                logger.warning("webhook %s disabled after repeated failures", webhook.public_id)
            raise exc
        described = f"HTTP {response.status_code} {response.reason or ''}".strip()
        webhook_record_attempt(webhook_id=webhook.pk, ok=True, response=described, delivery_id=delivery.pk)
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
