"""Sending a queued delivery exactly once, retrying with backoff, and the sweeper that keeps it moving.

Lifecycle (see choices.DELIVERY_TRANSITIONS):

1. **Claim** — one conditional UPDATE moves the row `queued → sending` with a
   fresh claim token, `attempts + 1`, only if it is queued and due. django-q
   delivers tasks at least once; a duplicated or redelivered task finds nothing
   to claim and returns. A delivery recorded as sent is never claimed again.
2. **Send** — outside any transaction (the network may be slow), through the
   channel class. A multi-part message records each delivered part, so a retry
   continues with the next part instead of repeating the first.
3. **Finish** — a short transaction: lock the row, check the claim token, record
   sent / failed / skipped, or schedule a retry (`sending → queued` with
   `next_attempt_at`), and write the audit event of the attempt.

The sweeper (every minute, schedules.py) queues due retries, re-queues a
delivery whose first task was lost, and releases a claim whose worker died
mid-send (older than STALE_CLAIM_SECONDS), so nothing stays "sending" forever.

A dropped database connection is not a failed send: the claim, the progress
writes and the finish go through `ersen_ops.core.db.db_retry` (reconnect and
retry for up to OPS_DB_RETRY_SECONDS), so a message the receiver accepted is
recorded as sent once, not retried as if the network had failed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from datetime import timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.db import RETRYABLE, DatabaseUnavailable, call_with_retry, db_retry
from ersen_ops.core.validators import one_line
from ersen_ops.core.wording import duration
from ersen_ops.notifications import policy
from ersen_ops.notifications.channels import (
    NotConfigured,
    PermanentFailure,
    Progress,
    Sent,
    TemporaryFailure,
    get_channel,
)
from ersen_ops.notifications.choices import Channel, DeliveryStatus, SubscriberChannel, can_transition
from ersen_ops.notifications.masking import LOGGER_NAME, mask
from ersen_ops.notifications.models import DeliveredMark, DeliveryContent, NotificationDelivery

logger = logging.getLogger(LOGGER_NAME)

ACTOR = "system:notifications"
# A claim older than this belongs to a dead worker: an attempt stops starting new parts after
# channels.ATTEMPT_BUDGET_SECONDS and each HTTP call is bounded by the connect/read timeouts.
STALE_CLAIM_SECONDS = 600
# A queued delivery with no retry pending whose task has not claimed it after this long lost its task.
LOST_TASK_SECONDS = 120
# Deliveries queued per sweep (each sweep runs a minute after the last), OPS_NOTIFY_SEND_BATCH per task.
SWEEP_BATCH = 5000
# Channels that send a delivery as one message (email): a recorded delivered part means the whole was delivered.
# (Multi-part webhooks continue from the next part instead: WebhookChannel.send.)
_WHOLE_MESSAGE_CHANNELS = frozenset({Channel.EMAIL, *SubscriberChannel})


def max_attempts() -> int:
    return len(settings.OPS_NOTIFY_RETRY_DELAYS) + 1


def retry_delay(attempt: int, retry_after: float | None = None) -> int | None:
    """Seconds to wait after failed attempt number `attempt`, from OPS_NOTIFY_RETRY_DELAYS (see policy.retry_delay)."""
    return policy.retry_delay(attempt=attempt, delays=list(settings.OPS_NOTIFY_RETRY_DELAYS), retry_after=retry_after)


_CODE = re.compile(r"^(?:HTTP )?(\d{3})\b")


def response_code(response: str) -> int | None:
    """The HTTP status or SMTP reply code at the start of a recorded response ("HTTP 503 …", "250 Ok")."""
    match = _CODE.match(response or "")
    return int(match.group(1)) if match else None


class _RowProgress(Progress):
    """Writes parts_total / parts_sent as they happen (autocommit), guarded by the claim token."""

    def __init__(self, delivery: NotificationDelivery, token: str):
        self.delivery = delivery
        self.token = token

    def total(self, parts: int) -> None:
        if self.delivery.parts_total != parts:
            self.delivery.parts_total = parts
            self._write(parts_total=parts)

    def part_sent(self, number: int) -> None:
        self.delivery.parts_sent = number
        self._write(parts_sent=number)

    def _write(self, **fields) -> None:
        # Progress is also written by the finish; a part already sent must never turn into a send "failure".
        try:
            call_with_retry(
                NotificationDelivery.objects.filter(pk=self.delivery.pk, claim_token=self.token).update,
                what="recording a delivery's progress",
                **fields,
            )
        except DatabaseUnavailable as exc:
            logger.error(
                "delivery %s: progress %s not recorded now (%s); the finish records it", self.delivery.pk, fields, exc
            )


@db_retry(what="claiming a notification delivery")
def delivery_claim(*, delivery_id: int, now=None) -> str | None:
    """queued → sending, atomically; the claim token, or None if someone else has it / it is not due / it is final."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    claimed = (
        NotificationDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(
            status=DeliveryStatus.SENDING,
            claim_token=token,
            last_attempt_at=now,
            attempts=F("attempts") + 1,
        )
    )
    return token if claimed else None


def delivery_send(*, delivery_id: int) -> str | None:
    """One attempt at a delivery. Returns the resulting status, or None when there was nothing to do."""
    token = delivery_claim(delivery_id=delivery_id)
    if token is None:
        current = NotificationDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        logger.info("delivery %s not claimed (status %s): already taken, final, or not yet due", delivery_id, current)
        return None
    delivery = call_with_retry(NotificationDelivery.objects.get, pk=delivery_id, what="reading a delivery")
    channel = get_channel(delivery.channel)
    if (
        delivery.channel in _WHOLE_MESSAGE_CHANNELS
        and delivery.parts_total
        and delivery.parts_sent >= delivery.parts_total
    ):
        # Delivered by an attempt whose worker stopped before recording the outcome: never sent twice.
        response = delivery.response or "delivered by an earlier attempt"
        return _finish(delivery, token, DeliveryStatus.SENT, response=response)
    try:
        # These may read the database (a subscriber's row): a dropped connection there is not a send failure.
        delivery.target_name, reason = call_with_retry(_describe_target, channel, delivery, what="reading a target")
        if reason:
            raise NotConfigured(reason)
        result = channel.send(delivery, _RowProgress(delivery, token))
    except NotConfigured as exc:
        return _finish(delivery, token, DeliveryStatus.SKIPPED, response="", error=str(exc))
    except PermanentFailure as exc:
        return _finish(delivery, token, DeliveryStatus.FAILED, response=exc.response, error=exc.error)
    except TemporaryFailure as exc:
        return _retry_or_fail(delivery, token, exc.response, exc.error, exc.retry_after)
    except (DatabaseUnavailable, *RETRYABLE):
        # Not the channel's failure: nothing can be recorded now. The sweeper releases the claim later.
        logger.error("delivery %s: the database went away during the attempt; outcome not recorded", delivery_id)
        raise
    except Exception as exc:  # a bug or an unexpected library error: retried like a network error, never raised
        logger.warning("delivery %s: unexpected %s while sending", delivery_id, type(exc).__name__)
        return _retry_or_fail(delivery, token, "error", f"{type(exc).__name__}: {exc}", None)
    return _finish(delivery, token, DeliveryStatus.SENT, response=result.response, error=result.detail)


def _describe_target(channel, delivery) -> tuple[str, str]:
    return channel.target_name(delivery)[:200], channel.not_configured_reason(delivery)


def _retry_or_fail(delivery, token: str, response: str, error: str, retry_after: float | None) -> str | None:
    wait = retry_delay(delivery.attempts, retry_after)
    if wait is None:
        age = duration((timezone.now() - delivery.created_at).total_seconds())
        error = f"gave up after {delivery.attempts} attempts over {age}: {error}"
        return _finish(delivery, token, DeliveryStatus.FAILED, response=response, error=error)
    return _finish(
        delivery,
        token,
        DeliveryStatus.QUEUED,
        response=response,
        error=error,
        next_attempt_in=wait,
        retry_after=retry_after,
    )


_AUDIT_ACTION = {
    DeliveryStatus.SENT: "notification.sent",
    DeliveryStatus.FAILED: "notification.failed",
    DeliveryStatus.SKIPPED: "notification.skipped",
    DeliveryStatus.QUEUED: "notification.retry_scheduled",
}


@db_retry(what="recording a delivery's outcome")
def _finish(
    delivery: NotificationDelivery,
    token: str,
    status: str,
    *,
    response: str,
    error: str = "",
    next_attempt_in: int | None = None,
    retry_after: float | None = None,
) -> str | None:
    response, error = mask(response)[:300], mask(error)
    now = timezone.now()
    with transaction.atomic():
        row = NotificationDelivery.objects.select_for_update().get(pk=delivery.pk)
        before = row.status
        ours = row.claim_token == token and before == DeliveryStatus.SENDING
        late_success = not ours and status == DeliveryStatus.SENT and before != DeliveryStatus.SENT
        if not ours and not late_success:
            # The sweeper released this claim (the attempt looked dead); another attempt owns the row now.
            logger.warning(
                "delivery %s attempt %s finished after its claim was released; outcome %s not recorded",
                row.pk,
                delivery.attempts,
                status,
            )
            return None
        if ours and not can_transition(before, status):  # pragma: no cover - guarded by the table
            raise AssertionError(f"delivery {row.pk}: {before} → {status} is not a transition")
        row.status = status
        row.response = response
        row.last_error = error
        row.claim_token = ""
        row.target_name = delivery.target_name or row.target_name
        row.parts_total, row.parts_sent = delivery.parts_total, max(row.parts_sent, delivery.parts_sent)
        row.next_attempt_at = now + timedelta(seconds=next_attempt_in) if next_attempt_in is not None else None
        if status == DeliveryStatus.SENT:
            row.sent_at = now
        row.subject = one_line(row.subject)  # a row from before the single-line rule: recorded as it was sent
        row.full_clean(validate_unique=False)
        row.save()
        data = {
            "attempt": delivery.attempts,
            "max_attempts": max_attempts(),
            "channel": row.channel,
            "target": row.target_name,
            "response": response,
            "response_code": response_code(response),
            "before": {"status": before},
            "after": {"status": status},
        }
        if error:
            data["error"] = error[:1000]
        if row.parts_total > 1:
            data["parts"] = {"sent": row.parts_sent, "total": row.parts_total}
        if row.next_attempt_at:
            data["next_attempt_at"] = row.next_attempt_at
            data["wait_seconds"] = next_attempt_in
        if retry_after is not None:
            data["retry_after"] = retry_after
        if late_success:
            data["note"] = "sent by an attempt whose claim had been released as stale"
        record(actor=ACTOR, action=_AUDIT_ACTION[status], target=row, data=data)
    log = logger.warning if status == DeliveryStatus.FAILED else logger.info
    log(
        "delivery %s (%s → %s) attempt %s: %s %s%s",
        row.pk,
        row.event,
        row.get_channel_display(),
        delivery.attempts,
        status if status != DeliveryStatus.QUEUED else f"retry in {duration(next_attempt_in or 0)}",
        response,
        f" — {error[:300]}" if error else "",
    )
    return status


def deliveries_sweep(*, now=None) -> dict[str, int]:
    """Queue due retries and lost tasks; release claims of dead workers. Safe to run any number of times at once."""
    now = now or timezone.now()
    counts = {"stale_released": 0, "gave_up": 0, "queued": 0}
    stale = NotificationDelivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - timedelta(seconds=STALE_CLAIM_SECONDS)
    ).values_list("pk", flat=True)
    for pk in list(stale):
        outcome = _release_stale_claim(pk, now=now)
        if outcome:
            counts[outcome] += 1
    # Marks whose delivery is no longer being sent (its outcome was recorded another way) are of no further use.
    sending_ids = NotificationDelivery.objects.filter(status=DeliveryStatus.SENDING).values("pk")
    DeliveredMark.objects.exclude(delivery_id__in=sending_ids).delete()
    due = NotificationDelivery.objects.filter(status=DeliveryStatus.QUEUED).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, created_at__lt=now - timedelta(seconds=LOST_TASK_SECONDS))
    )
    # Oldest first and capped, so a backlog after an outage drains steadily instead of flooding the queue;
    # one send task per OPS_NOTIFY_SEND_BATCH of them (a retry chunk), each delivery still claimed on its own.
    from ersen_ops.notifications.services import deliveries_enqueue

    due_ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:SWEEP_BATCH])
    deliveries_enqueue(due_ids)
    counts["queued"] = len(due_ids)
    if any(counts.values()):
        logger.info("notification sweep: %s", counts)
    return counts


def _release_stale_claim(pk: int, *, now) -> str | None:
    with transaction.atomic():
        row = NotificationDelivery.objects.select_for_update().get(pk=pk)
        if row.status != DeliveryStatus.SENDING or row.last_attempt_at >= now - timedelta(seconds=STALE_CLAIM_SECONDS):
            return None
        error = (
            f"attempt {row.attempts} started {row.last_attempt_at:%Y-%m-%d %H:%M:%S} UTC and never finished "
            f"(worker stopped?)"
        )
        wait = retry_delay(row.attempts)
        marked = DeliveredMark.objects.filter(delivery_id=row.pk)
        delivered = row.channel in _WHOLE_MESSAGE_CHANNELS and row.parts_total and row.parts_sent >= row.parts_total
        if delivered or marked.exists():
            marked.delete()
            row.parts_total = row.parts_sent = max(row.parts_total, 1)
            # The receiver accepted it (recorded as it happened); only the outcome was never written.
            row.status = DeliveryStatus.SENT
            row.sent_at = now
            row.next_attempt_at = None
            row.response = row.response or "delivered (recorded before the worker stopped)"
            row.last_error = f"{error}; the message had been delivered, not sent again"
            outcome, action = "stale_released", "notification.sent"
        elif wait is None:
            row.status = DeliveryStatus.FAILED
            row.last_error = f"gave up after {row.attempts} attempts: {error}"
            row.next_attempt_at = None
            outcome, action = "gave_up", "notification.failed"
        else:
            row.status = DeliveryStatus.QUEUED
            row.last_error = f"{error}; retrying"
            row.next_attempt_at = now
            outcome, action = "stale_released", "notification.claim_expired"
        row.claim_token = ""
        row.full_clean(validate_unique=False)
        row.save()
        record(
            actor=ACTOR,
            action=action,
            target=row,
            data={
                "attempt": row.attempts,
                "before": {"status": DeliveryStatus.SENDING},
                "after": {"status": row.status},
                "error": row.last_error,
            },
        )
    logger.warning("delivery %s: %s", pk, row.last_error)
    return outcome


def deliveries_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """One send task: a list of deliveries. Those sharing a DeliveryContent (a fan-out) on a batched channel are
    sent as batches (`_batch_send`); any other delivery one by one, exactly as `delivery_send`."""
    ids = list(dict.fromkeys(delivery_ids))
    rows = NotificationDelivery.objects.filter(pk__in=ids).values_list("pk", "channel", "content_id")
    batches: dict[str, list[int]] = {}
    singles: list[int] = []
    for pk, channel, content_id in rows:
        if content_id and getattr(get_channel(channel), "batched", False):
            batches.setdefault(channel, []).append(pk)
        else:
            singles.append(pk)
    outcomes: dict[str, int] = {}
    for pk in sorted(singles):
        outcome = delivery_send(delivery_id=pk) or "not_claimed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for channel, pks in batches.items():
        for outcome, count in _batch_send(channel=channel, delivery_ids=sorted(pks)).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    return outcomes


# A batch records its outcomes (and the audit event naming them) every this many results or seconds.
BATCH_RECORD_EVERY = 100
BATCH_RECORD_SECONDS = 1.0


class _MarkSent(Progress):
    """A batch's progress: a delivered message is marked at once (one INSERT into DeliveredMark, durable before the
    receiver can accept the next message), so a worker that dies mid-batch leaves a record of every message the
    receiver accepted but the one it had just accepted; the outcome itself is written in bulk by `_BatchOutcomes`."""

    def __init__(self, delivery: NotificationDelivery, token: str, marks: _Marks):
        self.delivery = delivery
        self.token = token
        self.marks = marks

    def total(self, parts: int) -> None:
        self.delivery.parts_total = parts

    def part_sent(self, number: int) -> None:
        self.delivery.parts_sent = number
        if number >= self.delivery.parts_total:
            self.marks.mark(self.delivery.pk)

    def settle(self) -> None:
        self.marks.settle()


_MARK_SQL = "INSERT INTO {table} (delivery_id) VALUES ({param}) ON CONFLICT DO NOTHING"


class _Marks:
    """Writes a batch's delivered marks. Outside a transaction on PostgreSQL, on a connection of its own with the
    INSERT sent without waiting (its commit overlaps the next message's MAIL/RCPT): `settle()` — which the channel
    calls before the next message's DATA, and the outcome record before it deletes marks — waits for it. Should that
    connection fail, the mark is written the ordinary way (reconnect and retry). Inside a transaction (tests) or on
    another database, each mark is written at once on the default connection."""

    def __init__(self):
        self._conn = None
        self._pending: int | None = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            try:
                self._conn = _side_connection()
            except Exception as exc:  # noqa: BLE001 - marks are then written in line, as before
                logger.warning("delivered marks written in line: no second connection (%s)", type(exc).__name__)
        self._sql = _MARK_SQL.format(table=connection.ops.quote_name(DeliveredMark._meta.db_table), param="$1").encode()

    def mark(self, delivery_id: int) -> None:
        self.settle()
        if self._conn is not None:
            try:
                self._conn.pgconn.send_query_params(self._sql, [str(delivery_id).encode()])
                self._pending = delivery_id
                return
            except Exception:  # noqa: BLE001 - the side connection broke: this mark goes the ordinary way
                self._drop()
        self._write(delivery_id)

    def settle(self) -> None:
        if self._pending is None:
            return
        delivery_id, self._pending = self._pending, None
        try:
            ok = True
            while (result := self._conn.pgconn.get_result()) is not None:
                ok = ok and result.status == psycopg.pq.ExecStatus.COMMAND_OK
        except Exception:  # noqa: BLE001
            ok = False
        if not ok:
            self._drop()
            self._write(delivery_id)

    def close(self) -> None:
        try:
            self.settle()
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()

    @staticmethod
    def _write(delivery_id: int) -> None:
        try:
            call_with_retry(_mark_delivered, delivery_id, what="recording a delivered message")
        except DatabaseUnavailable as exc:
            logger.error("delivery %s: delivered, not marked now (%s); the batch's record has it", delivery_id, exc)


def _side_connection():
    """A plain autocommit psycopg connection to the default database (Django's parameters, not its pool)."""
    params = dict(connection.get_connection_params())
    for key in ("context", "cursor_factory", "prepare_threshold", "server_side_binding", "pool", "isolation_level"):
        params.pop(key, None)
    return psycopg.connect(**params, autocommit=True)


def _mark_delivered(delivery_id: int) -> None:
    # One statement, no ORM machinery: it runs once per message, between two messages of the batch.
    table = connection.ops.quote_name(DeliveredMark._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL.format(table=table, param="%s"), [delivery_id])


@db_retry(what="claiming a batch of notification deliveries")
def deliveries_claim(*, delivery_ids: list[int], now=None) -> tuple[str, list[NotificationDelivery]]:
    """queued → sending for every due delivery among `delivery_ids` in ONE UPDATE; the token and the claimed rows."""
    now = now or timezone.now()
    token = secrets.token_hex(8)
    claimed = (
        NotificationDelivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=DeliveryStatus.SENDING, claim_token=token, last_attempt_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return token, []
    rows = list(NotificationDelivery.objects.filter(pk__in=delivery_ids, claim_token=token).order_by("pk"))
    # One instance per shared content (a notice's text), not a copy per row.
    contents = DeliveryContent.objects.in_bulk({row.content_id for row in rows if row.content_id})
    for row in rows:
        if row.content_id:
            row.content = contents[row.content_id]
    return token, rows


def _batch_send(*, channel: str, delivery_ids: list[int]) -> dict[str, int]:
    token, deliveries = deliveries_claim(delivery_ids=delivery_ids)
    if len(deliveries) < len(delivery_ids):
        logger.info(
            "batch of %s %s deliveries: %s claimed (the rest already taken, final, or not yet due)",
            len(delivery_ids),
            channel,
            len(deliveries),
        )
    if not deliveries:
        return {}
    return _send_claimed(get_channel(channel), token, deliveries)


def deliveries_send_claimed(*, deliveries: list[NotificationDelivery]) -> dict[str, int]:
    """Send deliveries the caller inserted already claimed (services.deliveries_queue_bulk(send_here=True)), once
    its transaction has committed: the fan-out chunk task sends its own recipients, without another task."""
    outcomes: dict[str, int] = {}
    by_channel: dict[tuple[str, str], list[NotificationDelivery]] = {}
    for delivery in deliveries:
        by_channel.setdefault((delivery.channel, delivery.claim_token), []).append(delivery)
    for (channel, token), group in by_channel.items():
        for outcome, count in _send_claimed(get_channel(channel), token, group).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    return outcomes


def _send_claimed(impl, token: str, deliveries: list[NotificationDelivery]) -> dict[str, int]:
    outcomes = _BatchOutcomes(impl, token)
    call_with_retry(impl.prepare, deliveries, what="reading the recipients of a batch")
    ready = []
    for delivery in deliveries:
        delivery.target_name = delivery.target_name or impl.target_name(delivery)[:200]
        reason = impl.not_configured_reason(delivery)
        if delivery.parts_total and delivery.parts_sent >= delivery.parts_total:
            # Delivered by an attempt whose worker stopped before recording the outcome: never sent twice.
            outcomes.add(delivery, Sent(response=delivery.response or "delivered by an earlier attempt"))
        elif reason:
            outcomes.add(delivery, NotConfigured(reason))
        else:
            ready.append(delivery)
    marks = _Marks()
    outcomes.marks = marks
    try:
        impl.send_batch(ready, lambda d: _MarkSent(d, token, marks), outcomes.add)
    finally:
        marks.close()
    outcomes.record()
    return outcomes.counts


class _BatchOutcomes:
    """Collects a batch's results and records them in bulk: one transaction per BATCH_RECORD_EVERY results with
    one `bulk_update` of the rows and one audit event per shared content naming every recipient and its outcome."""

    def __init__(self, impl, token: str):
        self.impl = impl
        self.token = token
        self.pending: list[tuple[NotificationDelivery, object]] = []
        self.since = time.monotonic()
        self.counts: dict[str, int] = {}
        self.marks: _Marks | None = None

    def add(self, delivery: NotificationDelivery, outcome) -> None:
        self.pending.append((delivery, outcome))
        if len(self.pending) >= BATCH_RECORD_EVERY or time.monotonic() - self.since >= BATCH_RECORD_SECONDS:
            self.record()

    def record(self) -> None:
        pending, self.pending, self.since = self.pending, [], time.monotonic()
        if pending:
            call_with_retry(self._record, pending, what="recording a batch's outcomes")

    def _record(self, pending) -> None:
        if self.marks is not None:
            self.marks.settle()  # the marks this record deletes are written first
        now = timezone.now()
        with transaction.atomic():
            applied = [(delivery, *self._apply(delivery, outcome, now)) for delivery, outcome in pending]
            # Only rows still claimed by this batch take their outcome (one statement, row-locked by it).
            ours = _outcomes_write([delivery for delivery, _, _ in applied], self.token)
            rows, events = [], {}
            for delivery, status, entry in applied:
                if delivery.pk not in ours:
                    # The sweeper released this claim (the attempt looked dead); another attempt owns the row now.
                    logger.warning("delivery %s: batch outcome not recorded, its claim was released", delivery.pk)
                    continue
                rows.append(delivery)
                self.counts[status] = self.counts.get(status, 0) + 1
                event = events.setdefault(delivery.content_id, {"content": delivery.content, "results": {}})
                event["results"].setdefault(_BATCH_KEYS[status], {})[self.impl.recipient_ref(delivery)] = entry
            # Recorded now: their delivered marks are no longer needed.
            DeliveredMark.objects.filter(delivery_id__in=[d.pk for d in rows]).delete()
            for event in events.values():
                results = event["results"]
                record(
                    actor=ACTOR,
                    action="notification.batch_attempted",
                    target=event["content"],
                    data={
                        "channel": self.impl.code,
                        "recipients": sum(len(v) for v in results.values()),
                        "max_attempts": max_attempts(),
                        **{key: results[key] for key in ("sent", "retry", "failed", "skipped") if key in results},
                    },
                )
        for delivery in rows:
            if delivery.status == DeliveryStatus.FAILED:
                logger.warning(
                    "delivery %s attempt %s: failed %s — %s",
                    delivery.pk,
                    delivery.attempts,
                    delivery.response,
                    delivery.last_error[:300],
                )

    def _apply(self, delivery: NotificationDelivery, outcome, now) -> tuple[str, object]:
        """Set the row's outcome fields (like _finish); what the audit event says about this recipient."""
        response, error, wait, retry_after = "", "", None, None
        if isinstance(outcome, Sent):
            status, response, error = DeliveryStatus.SENT, outcome.response, outcome.detail
        elif isinstance(outcome, NotConfigured):
            status, error = DeliveryStatus.SKIPPED, str(outcome)
        elif isinstance(outcome, PermanentFailure):
            status, response, error = DeliveryStatus.FAILED, outcome.response, outcome.error
        else:  # TemporaryFailure
            response, error, retry_after = outcome.response, outcome.error, outcome.retry_after
            wait = retry_delay(delivery.attempts, retry_after)
            if wait is None:
                age = duration((now - delivery.created_at).total_seconds())
                status, error = DeliveryStatus.FAILED, f"gave up after {delivery.attempts} attempts over {age}: {error}"
            else:
                status = DeliveryStatus.QUEUED
        response, error = mask(response)[:300], mask(error)
        delivery.status = status
        delivery.response = response
        delivery.last_error = error
        delivery.claim_token = ""
        delivery.next_attempt_at = now + timedelta(seconds=wait) if wait is not None else None
        if status == DeliveryStatus.SENT:
            delivery.sent_at = now
        if status == DeliveryStatus.SENT and not error:
            return status, [delivery.pk, delivery.attempts, response_code(response)]
        entry = {"delivery": delivery.pk, "attempt": delivery.attempts, "response": response}
        if error:
            entry["error"] = error[:500]
        if wait is not None:
            entry["next_attempt_at"] = delivery.next_attempt_at
            if retry_after is not None:
                entry["retry_after"] = retry_after
        return status, entry


_BATCH_KEYS = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.QUEUED: "retry",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.SKIPPED: "skipped",
}


def _outcomes_write(deliveries: list[NotificationDelivery], token: str) -> set[int]:
    """Write the outcome fields (_BATCH_FIELDS) of `deliveries` still claimed by `token` (status sending); their ids.

    On PostgreSQL one `UPDATE … FROM (VALUES …) … RETURNING id` (Django's bulk_update builds a CASE per field and
    row, which costs more CPU than sending the messages); elsewhere a locked read and bulk_update."""
    if not deliveries:
        return set()
    if connection.vendor != "postgresql":
        ours = set(
            NotificationDelivery.objects.select_for_update()
            .filter(pk__in=[d.pk for d in deliveries], claim_token=token, status=DeliveryStatus.SENDING)
            .values_list("pk", flat=True)
        )
        NotificationDelivery.objects.bulk_update([d for d in deliveries if d.pk in ours], _BATCH_FIELDS)
        return ours
    table = connection.ops.quote_name(NotificationDelivery._meta.db_table)
    columns = ", ".join(_BATCH_FIELDS)
    assignments = ", ".join(f"{field} = v.{field}" for field in _BATCH_FIELDS)
    # The first row carries the column types; the rest follow them.
    first = "(%s::bigint, " + ", ".join(f"%s::{_BATCH_TYPES[field]}" for field in _BATCH_FIELDS) + ")"
    rest = "(" + ", ".join(["%s"] * (len(_BATCH_FIELDS) + 1)) + ")"
    values = ", ".join([first, *[rest] * (len(deliveries) - 1)])
    params: list = []
    for delivery in deliveries:
        params.append(delivery.pk)
        params.extend(getattr(delivery, field) for field in _BATCH_FIELDS)
    params += [token, DeliveryStatus.SENDING]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET {assignments} FROM (VALUES {values}) AS v(id, {columns}) "
            f"WHERE d.id = v.id AND d.claim_token = %s AND d.status = %s RETURNING d.id",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


_BATCH_FIELDS = [
    "status",
    "response",
    "last_error",
    "claim_token",
    "target_name",
    "next_attempt_at",
    "sent_at",
    "parts_total",
    "parts_sent",
]
_BATCH_TYPES = {
    "status": "varchar",
    "response": "varchar",
    "last_error": "text",
    "claim_token": "varchar",
    "target_name": "varchar",
    "next_attempt_at": "timestamptz",
    "sent_at": "timestamptz",
    "parts_total": "smallint",
    "parts_sent": "smallint",
}


def send(delivery_id: int) -> str | None:
    """Entry point kept for tasks.send_delivery."""
    return delivery_send(delivery_id=delivery_id)
