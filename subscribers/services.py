"""Every state change of a subscription or a webhook subscriber, and the subscribe-form rate limit.

Each function locks the row, checks the rule, changes, `full_clean()`s, saves, audits in the same
transaction and queues mail after commit. Views, the admin, tasks and the channels call these.

Messages to one subscriber (the confirmation request, "you are already subscribed") are queued
here as NotificationDelivery rows of the `subscriber_email` channel; the notifications app sends,
retries and records them (`fanout.py` does the same for notices, in chunks).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.db import db_retry
from ersen_ops.core.errors import DomainError, InvalidTransition
from ersen_ops.core.kit import clean_and_save, lock, now_or, require, transition_or_raise
from ersen_ops.notifications.choices import SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.outbound import literal_address_refusal
from ersen_ops.notifications.services import deliveries_queue
from ersen_ops.status.models import Component
from subscribers import content, policy, selectors, tokens
from subscribers.choices import (
    SUBSCRIBER_TRANSITIONS,
    WEBHOOK_TRANSITIONS,
    MessageKind,
    SubscriberStatus,
    WebhookStatus,
)
from subscribers.models import RateLimitCounter, Subscriber, SubscriberMessage, WebhookSubscriber

PUBLIC_ACTOR = "system:public-subscribe"
LINK_ACTOR = "system:subscriber-link"
CHANNEL_ACTOR = "system:subscriber-webhooks"

PERM_ADD_WEBHOOK = "subscribers.add_webhooksubscriber"
PERM_CHANGE_WEBHOOK = "subscribers.change_webhooksubscriber"
PERM_ENABLE_WEBHOOK = "subscribers.enable_webhooksubscriber"
PERM_UNSUBSCRIBE = "subscribers.unsubscribe_subscriber"
PERM_DELETE_SUBSCRIBER = "subscribers.delete_subscriber"
PERM_EXPORT = "subscribers.export_subscriber"

REFUSED = "The change was refused:"  # the lead of every validation refusal
MESSAGE_LINK_INVALID = "This link is not valid (it may be incomplete, or from an older email)."
MESSAGE_LINK_EXPIRED = (
    "This confirmation link has expired: links are valid for {hours} hours. Subscribe again to get a new one."
)
MESSAGE_CONFIRM_AFTER_UNSUBSCRIBE = "This subscription was cancelled. Subscribe again to get a new confirmation link."


# --- rate limiting ------------------------------------------------------------------------------------------


def _limit_key(scope: str, value: str) -> str:
    # Keyed hash: the table never holds an address or an IP, and keys cannot be guessed from outside.
    return hmac.new(settings.SECRET_KEY.encode(), f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()


def rate_limit_hit(*, scope: str, value: str, limit: int, now: datetime | None = None) -> policy.RateDecision:
    """Count one request for (`scope`, `value`) and decide whether it is allowed.

    Atomic across processes: an UPDATE … SET count = count + 1, or an INSERT that loses a race
    gracefully. Refused requests count too, so hammering does not shorten the wait."""
    now = now_or(now)
    window = timedelta(minutes=settings.OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES)
    start = policy.window_start(now, window)
    key = _limit_key(scope, value)
    with transaction.atomic():
        rows = RateLimitCounter.objects.filter(key=key, window_start=start)
        if not rows.update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(key=key, window_start=start, count=1)
            except IntegrityError:
                rows.update(count=F("count") + 1)
        counts = dict(
            RateLimitCounter.objects.filter(key=key, window_start__in=[start, start - window]).values_list(
                "window_start", "count"
            )
        )
    return policy.rate_decision(
        previous=counts.get(start - window, 0), current=counts.get(start, 1), now=now, window=window, limit=limit
    )


def rate_limits_purge(*, now: datetime | None = None) -> int:
    """Counters older than two windows no longer count for anything."""
    window = timedelta(minutes=settings.OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES)
    cutoff = policy.window_start(now_or(now), window) - window
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=cutoff).delete()
    return deleted


# --- one message to one subscriber ---------------------------------------------------------------------------


def queue_email(
    *, subscriber: Subscriber, kind: str, event: str, subject: str, context: dict, related=None, actor=PUBLIC_ACTOR
) -> NotificationDelivery:
    """Queue one email to `subscriber` (sent after commit by the notifications app). Call inside a transaction."""
    text, html = content.render_email(kind, context)
    related = related if related is not None else subscriber
    delivery = NotificationDelivery(
        event=event,
        channel=SubscriberChannel.SUBSCRIBER_EMAIL,
        target_name=str(subscriber),
        subject=content.email_subject(subject),
        body=text,
        message=content.personalise(text, subscriber),
        message_html=content.personalise(html, subscriber),
        template_names=", ".join(content.EMAIL_TEMPLATES[kind]),
        related_type=ContentType.objects.get_for_model(related),
        related_id=str(related.pk),
    )
    deliveries_queue(delivery=delivery, actor=actor)
    SubscriberMessage.objects.create(delivery=delivery, kind=kind, subscriber=subscriber)
    return delivery


def _component_names(subscriber: Subscriber) -> list[str]:
    return [c.name for c in subscriber.components.order_by("position", "name")]


# --- subscribing (public) ----------------------------------------------------------------------------------------


def _public_components(component_ids) -> list[Component]:
    wanted = {int(pk) for pk in component_ids or ()}
    allowed = selectors.public_component_ids()
    unknown = wanted - allowed
    if unknown:
        raise DomainError("Choose components from the list shown (some of the chosen ones are not offered).")
    return list(Component.objects.filter(pk__in=wanted))


def subscription_request(*, email: str, component_ids=(), request=None, now: datetime | None = None) -> None:
    """Somebody asked to subscribe `email`. Returns nothing: the visitor sees the same answer whatever the
    address's state (no enumeration); what happens depends on it:

    - new, or unsubscribed earlier → pending, with a confirmation email (a signed link, expiring);
    - pending → the chosen components are updated and a new confirmation email is sent;
    - confirmed → an "already subscribed" email with the manage link (the components are NOT changed:
      only the mailbox owner may change them, through that link).
    """
    now = now_or(now)
    problem = policy.email_problem(email)
    if problem:
        raise DomainError(problem, code="invalid_email")
    address = policy.normalise_email(email)
    components = _public_components(component_ids)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(email=address).first()
        if subscriber is None:
            try:
                with transaction.atomic():
                    subscriber = Subscriber(email=address, status=SubscriberStatus.PENDING)
                    # Uniqueness is left to the database: a validation error would tell the visitor it exists.
                    clean_and_save(subscriber, lead=REFUSED, validate_unique=False)
            except IntegrityError:  # created by a concurrent request
                subscriber = Subscriber.objects.select_for_update().get(email=address)
            else:
                subscriber.components.set(components)
                _request_confirmation(subscriber, outcome="created", components=components, request=request, now=now)
                return
        before = subscriber.status
        if subscriber.status == SubscriberStatus.CONFIRMED:
            record(
                actor=PUBLIC_ACTOR,
                action="subscribers.subscription_requested",
                target=subscriber,
                data={"outcome": "already_confirmed", "status": before},
                request=request,
            )
            queue_email(
                subscriber=subscriber,
                kind=MessageKind.ALREADY_SUBSCRIBED,
                event="subscribers.already_subscribed",
                subject="You are already subscribed",
                context={"components": _component_names(subscriber)},
            )
            return
        if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
            transition_or_raise(subscriber, SubscriberStatus.PENDING, SUBSCRIBER_TRANSITIONS, "subscribe again")
            subscriber.status = SubscriberStatus.PENDING
            subscriber.unsubscribed_at = None
            subscriber.unsubscribed_via = ""
            subscriber.confirmed_at = None
        subscriber.components.set(components)
        _request_confirmation(
            subscriber,
            outcome="resubscribed" if before == SubscriberStatus.UNSUBSCRIBED else "confirmation_resent",
            components=components,
            request=request,
            now=now,
        )


def _request_confirmation(subscriber: Subscriber, *, outcome: str, components, request, now) -> None:
    subscriber.confirmation_sent_at = now
    subscriber.confirmations_sent += 1
    clean_and_save(subscriber, lead=REFUSED)
    record(
        actor=PUBLIC_ACTOR,
        action="subscribers.subscription_requested",
        target=subscriber,
        data={
            "outcome": outcome,
            "after": {"status": subscriber.status},
            "components": sorted(c.public_id for c in components),
        },
        request=request,
    )
    queue_email(
        subscriber=subscriber,
        kind=MessageKind.CONFIRMATION,
        event="subscribers.confirmation",
        subject="Confirm your subscription",
        context={
            "components": [c.name for c in sorted(components, key=lambda c: (c.position, c.name))],
            "hours": settings.OPS_SUBSCRIBE_CONFIRM_HOURS,
        },
    )


def _subscriber_for(data: tokens.TokenData) -> Subscriber:
    subscriber = Subscriber.objects.select_for_update().filter(public_id=data.public_id).first()
    if subscriber is None or subscriber.token_version != data.version:
        raise DomainError(MESSAGE_LINK_INVALID, code="invalid_link")
    return subscriber


def subscriber_confirm(*, token: str, request=None, now: datetime | None = None) -> Subscriber:
    """pending → confirmed (the double opt-in). Following the link again changes nothing."""
    now = now_or(now)
    try:
        data = tokens.read_confirm_token(token)
    except tokens.BadToken as exc:
        if exc.expired:
            raise DomainError(
                MESSAGE_LINK_EXPIRED.format(hours=settings.OPS_SUBSCRIBE_CONFIRM_HOURS), code="expired_link"
            ) from None
        raise DomainError(MESSAGE_LINK_INVALID, code="invalid_link") from None
    with transaction.atomic():
        subscriber = _subscriber_for(data)
        if subscriber.status == SubscriberStatus.CONFIRMED:
            return subscriber
        if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
            raise InvalidTransition(MESSAGE_CONFIRM_AFTER_UNSUBSCRIBE)
        transition_or_raise(subscriber, SubscriberStatus.CONFIRMED, SUBSCRIBER_TRANSITIONS, "confirm")
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = now
        clean_and_save(subscriber, lead=REFUSED)
        record(
            actor=LINK_ACTOR,
            action="subscribers.confirmed",
            target=subscriber,
            data={"before": {"status": SubscriberStatus.PENDING}, "after": {"status": subscriber.status}},
            request=request,
        )
    return subscriber


def subscriber_from_manage_token(token: str) -> Subscriber:
    """The subscriber a manage/unsubscribe link belongs to (DomainError for a forged, stale or unknown link)."""
    try:
        data = tokens.read_manage_token(token)
    except tokens.BadToken:
        raise DomainError(MESSAGE_LINK_INVALID, code="invalid_link") from None
    subscriber = Subscriber.objects.filter(public_id=data.public_id).first()
    if subscriber is None or subscriber.token_version != data.version:
        raise DomainError(MESSAGE_LINK_INVALID, code="invalid_link")
    return subscriber


def subscriber_set_components(*, actor, subscriber: Subscriber, component_ids=(), request=None) -> Subscriber:
    """Change the components of interest (none = everything). From the manage link, or an operator."""
    components = _public_components(component_ids)
    with transaction.atomic():
        locked = lock(subscriber)
        if locked.status == SubscriberStatus.UNSUBSCRIBED:
            raise InvalidTransition("This address is unsubscribed; subscribe again to choose components.")
        before = sorted(locked.components.values_list("public_id", flat=True))
        after = sorted(c.public_id for c in components)
        if before != after:
            locked.components.set(components)
            record(
                actor=actor,
                action="subscribers.components_changed",
                target=locked,
                data={"before": {"components": before}, "after": {"components": after}},
                request=request,
            )
    return locked


def subscriber_unsubscribe(*, actor, subscriber: Subscriber, via: str, request=None, now: datetime | None = None):
    """→ unsubscribed. Idempotent. Every earlier link stops working (the token version moves on)."""
    now = now_or(now)
    require(actor, PERM_UNSUBSCRIBE, what="unsubscribing subscribers", anonymous=True)
    with transaction.atomic():
        locked = lock(subscriber)
        if locked.status == SubscriberStatus.UNSUBSCRIBED:
            return locked
        before = locked.status
        transition_or_raise(locked, SubscriberStatus.UNSUBSCRIBED, SUBSCRIBER_TRANSITIONS, "unsubscribe")
        locked.status = SubscriberStatus.UNSUBSCRIBED
        locked.unsubscribed_at = now
        locked.unsubscribed_via = via[:60]
        locked.token_version += 1
        clean_and_save(locked, lead=REFUSED)
        record(
            actor=actor,
            action="subscribers.unsubscribed",
            target=locked,
            data={"before": {"status": before}, "after": {"status": locked.status}, "via": via},
            request=request,
        )
    return locked


def subscriber_erase(*, actor, subscriber: Subscriber, request=None) -> None:
    """Delete the subscriber (an erasure request): the address disappears; deliveries keep only the public id."""
    require(actor, PERM_DELETE_SUBSCRIBER, what="deleting subscribers", anonymous=True)
    with transaction.atomic():
        locked = lock(subscriber)
        record(
            actor=actor,
            action="subscribers.erased",
            target=locked,
            data={"status": locked.status, "public_id": locked.public_id},
            request=request,
        )
        locked.delete()


def pending_purge(*, now: datetime | None = None) -> int:
    """Unconfirmed subscriptions older than OPS_SUBSCRIBE_PENDING_DAYS are deleted (their addresses with them)."""
    cutoff = now_or(now) - timedelta(days=settings.OPS_SUBSCRIBE_PENDING_DAYS)
    with transaction.atomic():
        stale = list(
            Subscriber.objects.select_for_update()
            .filter(status=SubscriberStatus.PENDING, created_at__lt=cutoff)
            .exclude(confirmation_sent_at__gte=cutoff)
            .values_list("pk", "public_id")
        )
        if not stale:
            return 0
        Subscriber.objects.filter(pk__in=[pk for pk, _ in stale]).delete()
        record(
            actor="system:subscribers-sweeper",
            action="subscribers.pending_purged",
            data={"count": len(stale), "public_ids": [p for _, p in stale][:500], "older_than": cutoff},
        )
    return len(stale)


# --- webhook subscribers (operators) ---------------------------------------------------------------------------


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    """The X-Ersen-Signature header value: HMAC-SHA256 of the exact body with the subscriber's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_webhook_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError(f"A webhook needs an http(s) URL with a host name; got {url[:60]!r}.")
    if parts.username or parts.password:
        raise DomainError("Put no user name or password in the webhook URL: payloads are signed instead.")
    refused = literal_address_refusal(url)
    if refused:
        raise DomainError(refused[0].upper() + refused[1:] + ".")
    return url


def _webhook_snapshot(webhook: WebhookSubscriber) -> dict:
    return {
        "name": webhook.name,
        "host": webhook.host,
        "contact": webhook.contact,
        "status": webhook.status,
        "components": sorted(webhook.components.values_list("public_id", flat=True)) if webhook.pk else [],
    }


def webhook_create(*, actor, name: str, url: str, contact: str = "", components=(), request=None):
    """Register a webhook. Returns (webhook, secret): the secret is shown once, to the operator who created it."""
    require(actor, PERM_ADD_WEBHOOK, what="registering webhooks", anonymous=True)
    secret = new_webhook_secret()
    with transaction.atomic():
        webhook = WebhookSubscriber(
            name=(name or "").strip(),
            url=check_webhook_url(url),
            contact=(contact or "").strip(),
            secret=secret,
            secret_rotated_at=timezone.now(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        clean_and_save(webhook, lead=REFUSED)
        webhook.components.set(list(components))
        record(
            actor=actor, action="subscribers.webhook.created", target=webhook,
            data={"after": _webhook_snapshot(webhook)}, request=request,
        )  # fmt: skip
    return webhook, secret


def webhook_update(*, actor, webhook: WebhookSubscriber, components=None, request=None, **changes):
    """Edit name, URL, contact or components (the secret and the status have their own actions)."""
    require(actor, PERM_CHANGE_WEBHOOK, what="editing webhooks", anonymous=True)
    unknown = set(changes) - {"name", "url", "contact"}
    if unknown:
        raise DomainError(f"Unknown webhook fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        locked = lock(webhook)
        before = _webhook_snapshot(locked)
        url_changed = "url" in changes and changes["url"] != locked.url
        if "url" in changes:
            changes["url"] = check_webhook_url(changes["url"])
        for field, value in changes.items():
            setattr(locked, field, value.strip() if isinstance(value, str) else value)
        clean_and_save(locked, lead=REFUSED)
        if components is not None:
            locked.components.set(list(components))
        after = _webhook_snapshot(locked)
        if before != after or url_changed:
            data = {"before": before, "after": after}
            if url_changed:
                data["url_changed"] = True  # the URL itself may carry a token: never recorded
            record(actor=actor, action="subscribers.webhook.updated", target=locked, data=data, request=request)
    return locked


def webhook_delete(*, actor, webhook: WebhookSubscriber, request=None) -> None:
    """Remove a webhook subscriber; its past deliveries stay (they keep its name in `target_name`)."""
    require(actor, "subscribers.delete_webhooksubscriber", what="deleting webhooks", anonymous=True)
    with transaction.atomic():
        locked = lock(webhook)
        record(
            actor=actor,
            action="subscribers.webhook.deleted",
            target=locked,
            data={"before": _webhook_snapshot(locked)},
            request=request,
        )
        locked.delete()


def webhook_rotate_secret(*, actor, webhook: WebhookSubscriber, request=None) -> str:
    """A new signing secret (the old one stops working at once). Returned to show once."""
    require(actor, PERM_CHANGE_WEBHOOK, what="rotating webhook secrets", anonymous=True)
    secret = new_webhook_secret()
    with transaction.atomic():
        locked = lock(webhook)
        locked.secret = secret
        locked.secret_rotated_at = timezone.now()
        clean_and_save(locked, lead=REFUSED)
        record(actor=actor, action="subscribers.webhook.secret_rotated", target=locked, data={}, request=request)
    return secret


def webhook_disable(*, actor, webhook: WebhookSubscriber, reason: str, request=None, now=None):
    """active → disabled (an operator, or the unsubscribe link of a payload). Queued payloads are then skipped."""
    require(actor, PERM_ENABLE_WEBHOOK, what="disabling webhooks", anonymous=True)
    reason = " ".join((reason or "").split())
    if not reason:
        raise DomainError("Say why the webhook is disabled: the reason is shown in the admin.")
    with transaction.atomic():
        locked = lock(webhook)
        _disable(locked, actor=actor, reason=reason, request=request, now=now_or(now))
    return locked


def _disable(locked: WebhookSubscriber, *, actor, reason: str, request=None, now: datetime, data=None) -> None:
    transition_or_raise(locked, WebhookStatus.DISABLED, WEBHOOK_TRANSITIONS, "disable")
    from ersen_ops.audit.services import actor_fields

    locked.status = WebhookStatus.DISABLED
    locked.disabled_at = now
    locked.disabled_reason = reason
    locked.disabled_by_name = actor_fields(actor)[1][:150]
    clean_and_save(locked, lead=REFUSED)
    record(
        actor=actor,
        action="subscribers.webhook.disabled",
        target=locked,
        data={
            "before": {"status": WebhookStatus.ACTIVE},
            "after": {"status": locked.status},
            "reason": reason,
            **(data or {}),
        },
        request=request,
    )


def webhook_enable(*, actor, webhook: WebhookSubscriber, request=None):
    """disabled → active; the consecutive-failure count starts again from zero."""
    require(actor, PERM_ENABLE_WEBHOOK, what="re-enabling webhooks", anonymous=True)
    with transaction.atomic():
        locked = lock(webhook)
        transition_or_raise(locked, WebhookStatus.ACTIVE, WEBHOOK_TRANSITIONS, "re-enable")
        before = {
            "status": locked.status,
            "disabled_reason": locked.disabled_reason,
            "consecutive_failures": locked.consecutive_failures,
        }
        locked.status = WebhookStatus.ACTIVE
        locked.consecutive_failures = 0
        locked.disabled_at = None
        locked.disabled_reason = ""
        locked.disabled_by_name = ""
        clean_and_save(locked, lead=REFUSED)
        record(
            actor=actor,
            action="subscribers.webhook.enabled",
            target=locked,
            data={"before": before, "after": {"status": locked.status, "consecutive_failures": 0}},
            request=request,
        )
    return locked


@db_retry(what="recording a webhook attempt")
def webhook_record_attempt(
    *, webhook_id: int, ok: bool, response: str = "", error: str = "", delivery_id=None, now=None
) -> bool:
    """Count one attempt of a webhook delivery. A success resets the count; the Nth consecutive failure
    (OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER) disables the webhook with the reason. True if it was just disabled."""
    now = now_or(now)
    limit = settings.OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER
    with transaction.atomic():
        locked = WebhookSubscriber.objects.select_for_update().filter(pk=webhook_id).first()
        if locked is None:
            return False
        if ok:
            locked.consecutive_failures = 0
            locked.last_success_at = now
            locked.last_response = response[:300]
            locked.save(update_fields=["consecutive_failures", "last_success_at", "last_response", "updated_at"])
            return False
        locked.consecutive_failures += 1
        locked.last_failure_at = now
        locked.last_error = error[:2000]
        locked.last_response = response[:300]
        locked.save(
            update_fields=["consecutive_failures", "last_failure_at", "last_error", "last_response", "updated_at"]
        )
        if locked.status != WebhookStatus.ACTIVE or not policy.webhook_should_disable(
            consecutive_failures=locked.consecutive_failures, limit=limit
        ):
            return False
        reason = (
            f"{locked.consecutive_failures} consecutive failed attempts (limit {limit}); "
            f"last: {response or 'no response'} — {error[:300]}"
        )
        _disable(
            locked,
            actor=CHANNEL_ACTOR,
            reason=reason,
            now=now,
            data={"consecutive_failures": locked.consecutive_failures, "delivery": delivery_id},
        )
    return True
