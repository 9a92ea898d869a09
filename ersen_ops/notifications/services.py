"""`notify()`: the one way anything in Ersen Ops tells anyone anything.

It records one NotificationDelivery per channel in the caller's transaction,
with the text already rendered for that channel, and queues the sending after
commit; the caller never waits on the network. A rolled-back transaction
leaves no delivery and sends nothing.

`delivery_resend()` gives a failed (or skipped) delivery another go.

`deliveries_queue()` / `deliveries_queue_bulk()` are the one way a delivery row comes to exist: notify(),
the resend and the apps above (the subscribers' confirmation emails and notice fan-out) all go through
them, and they alone name the send task (SEND_TASK: a list of delivery ids, sent by one worker).
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError, InvalidTransition
from ersen_ops.core.queue import enqueue_on_commit
from ersen_ops.core.validators import one_line
from ersen_ops.notifications.channels import get_channel, pager_dedup_key
from ersen_ops.notifications.choices import (
    FINAL_STATUSES,
    RESENDABLE_STATUSES,
    Channel,
    DeliveryStatus,
    PagerAction,
)
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.rendering import base_context, render_for_channel

# The one send task: a list of delivery ids, sent by one worker (one SMTP connection for a batch of emails).
SEND_TASK = "ersen_ops.notifications.tasks.send_deliveries"

# Deliveries queued inside `collect_deliveries()`, so an interface can say what became of them.
_collected: contextvars.ContextVar[list | None] = contextvars.ContextVar("collected_deliveries", default=None)


@contextlib.contextmanager
def collect_deliveries() -> Iterator[list[NotificationDelivery]]:
    """Collect every delivery `notify()` and `delivery_resend()` queue inside the block (nested blocks see theirs too).

    An admin action wraps its service call in it, then reports on the deliveries' real outcome
    (`outcomes.describe_deliveries`) instead of claiming "announced" or "paged".
    """
    collected: list[NotificationDelivery] = []
    outer = _collected.get()
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)
        if outer is not None:
            outer.extend(collected)


@contextlib.contextmanager
def deliveries_dated(moment: datetime) -> Iterator[None]:
    """Date the deliveries queued inside the block at `moment`, for history recorded after the fact (the demo
    data: its services run with a `now` in the past). What a delivery publishes on the status page takes the
    delivery's date (StatusPageChannel), so the public history reads as it happened. Call it inside the
    transaction of the change, before the deliveries are sent."""
    with collect_deliveries() as collected:
        yield
    if collected:
        NotificationDelivery.objects.filter(pk__in=[d.pk for d in collected]).update(created_at=moment)


def _collect(delivery: NotificationDelivery) -> None:
    collected = _collected.get()
    if collected is not None:
        collected.append(delivery)


def notify(
    *,
    event: str,
    channels: Iterable[str],
    subject: str,
    body: str,
    related: models.Model | None = None,
    actor=None,
    extra_recipients: Iterable[str] = (),
    pager_action: str = "",
    dedup_key: str = "",
    severity: str = "",
    template: str = "",
    context: dict | None = None,
) -> list[NotificationDelivery]:
    """Tell `channels` about `event`. Returns the deliveries (queued; sent after commit).

    `template` names a template set under templates/notifications/ (default: the event name,
    then `default`); `context` adds variables to it (subject, body, event, related, … are always there).
    """
    extra_recipients = list(dict.fromkeys(r.strip() for r in extra_recipients if r and r.strip()))
    for address in extra_recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError(f"Not an email address: {address!r}.", code="invalid_recipient") from None
    if pager_action and pager_action not in PagerAction.values:
        raise ValueError(f"unknown pager action {pager_action!r} (use {', '.join(PagerAction.values)})")
    deliveries = []
    related_type = ContentType.objects.get_for_model(related) if related is not None else None
    subject = one_line(subject)[:300]  # a title written before the single-line rule must not break a Subject
    with transaction.atomic():
        for channel in dict.fromkeys(channels):  # keep order, drop repeats
            if channel not in Channel.values:
                raise ValueError(f"unknown notification channel {channel!r}")
            texts = render_for_channel(
                channel=channel,
                template_set=template or event,
                context={
                    **(context or {}),
                    **base_context(
                        event=event,
                        channel=channel,
                        subject=subject,
                        body=body,
                        related=related,
                        severity=severity,
                        pager_action=pager_action,
                    ),
                },
            )
            delivery = NotificationDelivery(
                event=event,
                channel=channel,
                subject=subject,
                body=body,
                message=texts.message,
                message_html=texts.message_html,
                template_names=texts.template_names[:300],
                extra_recipients=extra_recipients if channel == Channel.EMAIL else [],
                pager_action=(pager_action or PagerAction.TRIGGER) if channel == Channel.PAGER else pager_action,
                dedup_key=dedup_key,
                severity=severity,
                related_type=related_type,
                related_id=str(related.pk) if related is not None else "",
                status=DeliveryStatus.QUEUED,
            )
            channel_impl = get_channel(channel)
            delivery.target_name = channel_impl.target_name(delivery)[:200]
            if channel == Channel.PAGER and not dedup_key and related is not None:
                # Recorded up front so an acknowledge/resolve for the same object meets the same alert.
                delivery.dedup_key = pager_dedup_key(delivery)
            deliveries_queue(delivery=delivery, actor=actor, audit_data={"related": str(related or "")})
            deliveries.append(delivery)
    return deliveries


def resend_refusal(delivery: NotificationDelivery) -> str:
    """Why `delivery` cannot be resent now ("" if it can). Reads the resends, so pass a fresh row."""
    if delivery.status not in RESENDABLE_STATUSES:
        return (
            f"Only failed or skipped deliveries can be resent; delivery #{delivery.pk} is "
            f"{delivery.get_status_display().lower()}."
        )
    pending = (
        delivery.resends.exclude(status__in=RESENDABLE_STATUSES).order_by("-id").values_list("pk", "status").first()
    )
    if pending:
        return f"Delivery #{delivery.pk} was already resent as #{pending[0]} ({pending[1]})."
    return ""


def delivery_resend(*, actor, delivery: NotificationDelivery, request=None) -> NotificationDelivery:
    """Resend a failed/skipped delivery as a NEW delivery linked to it (`resend_of`), with the same rendered text.

    The failed row keeps its attempts, error and response: the record of what happened is never rewritten.
    """
    with transaction.atomic():
        original = NotificationDelivery.objects.select_for_update().get(pk=delivery.pk)
        refusal = resend_refusal(original)
        if refusal:
            raise InvalidTransition(refusal)
        copy = NotificationDelivery(
            event=original.event,
            channel=original.channel,
            subject=original.subject,
            body=original.body,
            message=original.message,
            message_html=original.message_html,
            template_names=original.template_names,
            content_id=original.content_id,
            extra_recipients=original.extra_recipients,
            pager_action=original.pager_action,
            dedup_key=original.dedup_key,
            severity=original.severity,
            related_type_id=original.related_type_id,
            related_id=original.related_id,
            status=DeliveryStatus.QUEUED,
            resend_of=original,
        )
        copy.target_name = get_channel(copy.channel).target_name(copy)[:200]
        copy.full_clean(validate_unique=False)
        copy.save()
        record(
            actor=actor,
            action="notification.resent",
            target=original,
            data={"status": original.status, "resent_as": copy.pk, "last_error": original.last_error[:500]},
            request=request,
        )
        deliveries_queue(delivery=copy, actor=actor, audit_data={"resend_of": original.pk}, request=request)
    return copy


def deliveries_queue(
    *, delivery: NotificationDelivery, actor, audit_data: dict | None = None, request=None
) -> NotificationDelivery:
    """Queue one prepared (unsaved or just saved) delivery: clean, save, audit `notification.queued`, send after
    commit. Call inside the caller's transaction; a rollback leaves no row and sends nothing."""
    with transaction.atomic():
        delivery.status = DeliveryStatus.QUEUED
        delivery.full_clean(validate_unique=False)
        delivery.save()
        if delivery.channel == Channel.PAGER and not delivery.dedup_key:
            delivery.dedup_key = pager_dedup_key(delivery)
            delivery.save(update_fields=["dedup_key"])
        record(
            actor=actor,
            action="notification.queued",
            target=delivery,
            data={
                "event": delivery.event,
                "channel": delivery.channel,
                "target": delivery.target_name,
                "subject": delivery.subject,
                **(audit_data or {}),
            },
            request=request,
        )
        enqueue_on_commit(SEND_TASK, [delivery.pk])
    _collect(delivery)
    return delivery


def deliveries_queue_bulk(
    *, deliveries: list[NotificationDelivery], batch: int | None = None, send_here: bool = False
) -> list[NotificationDelivery]:
    """Queue many prepared deliveries at once (a fan-out chunk): one INSERT, and one send task per `batch`
    (OPS_NOTIFY_SEND_BATCH) deliveries after commit. The caller audits the batch in its own words (one event for
    the chunk, naming what it is about) in the same transaction; rows are not full_clean'ed one by one, so the
    caller builds them from values it already validated (one rendered notice).

    `send_here`: the calling task sends them itself once its transaction commits (`sending.deliveries_send_claimed`):
    the rows are inserted already claimed by it (`sending`, attempt 1), which saves a task hop and a row version
    per delivery. Should the task die, the sweeper releases the claim exactly as for any dead attempt.
    """
    if not deliveries:
        return []
    token = secrets.token_hex(8) if send_here else ""  # a batch's token: short, it is on every row of the batch
    now = timezone.now()
    with transaction.atomic():
        for delivery in deliveries:
            if send_here:
                delivery.status = DeliveryStatus.SENDING
                delivery.claim_token = token
                delivery.attempts = 1
                delivery.last_attempt_at = now
            else:
                delivery.status = DeliveryStatus.QUEUED
        NotificationDelivery.objects.bulk_create(deliveries)
        if not send_here:
            ids = [d.pk for d in deliveries]
            size = batch or settings.OPS_NOTIFY_SEND_BATCH
            for start in range(0, len(ids), size):
                enqueue_on_commit(SEND_TASK, ids[start : start + size])
    return deliveries


def deliveries_enqueue(ids: list[int], *, batch: int | None = None) -> int:
    """Queue the sending of existing deliveries (the sweeper's retries), `batch` ids per task; returns the tasks."""
    size = batch or settings.OPS_NOTIFY_SEND_BATCH
    tasks = 0
    for start in range(0, len(ids), size):
        enqueue_on_commit(SEND_TASK, list(ids[start : start + size]))
        tasks += 1
    return tasks


def deliveries_reduce(*, delivery_ids: list[int]) -> dict[str, dict[str, int]]:
    """Retention: delete final delivery rows, returning what they were as counts {channel: {status: n}}.

    For an app above that keeps its own summary (the subscribers' notices, after OPS_SUBSCRIBER_DELIVERY_DAYS):
    it deletes its link rows first, calls this in its transaction and audits the reduction. A row still queued
    or sending is refused (DomainError), so nothing in flight disappears. One DELETE per 500 ids (no per-row
    collector); the audit events of the attempts stay, they copy what they need.
    """
    counts: dict[str, dict[str, int]] = {}
    if not delivery_ids:
        return counts
    rows = (
        NotificationDelivery.objects.filter(pk__in=delivery_ids)
        .order_by()
        .values_list("channel", "status")
        .annotate(n=models.Count("id"))
    )
    for channel, status, n in rows:
        if status not in FINAL_STATUSES:
            raise DomainError(f"{n} {channel} deliveries are still {status}: only final deliveries are reduced.")
        counts.setdefault(channel, {})[status] = n
    table = connection.ops.quote_name(NotificationDelivery._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(delivery_ids), 500):
            part = [int(pk) for pk in delivery_ids[start : start + 500]]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(part))})", part)
    return counts
