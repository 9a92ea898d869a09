"""Fan-out at scale: one send task per batch over one SMTP connection, per-message results, a refused recipient
failing (and being retried) alone, exactly once across a redelivered or crashed batch, the notice's text stored
once (bytes per delivery measured), webhooks sent concurrently, and deliveries reduced to counts after
OPS_SUBSCRIBER_DELIVERY_DAYS."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications import sending
from ersen_ops.notifications.choices import Channel, DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import DeliveredMark, DeliveryContent, NotificationDelivery
from ersen_ops.notifications.sending import STALE_CLAIM_SECONDS, deliveries_send, deliveries_sweep
from ersen_ops.status.models import StatusPost
from incidents.choices import Impact, Level
from incidents.services import incident_open
from subscribers import fanout
from subscribers.models import FanoutChunk, Notice, Subscriber, SubscriberMessage
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory
from tests.receivers import Mailbox, smtp_receiver
from tests.subscribers.factories import SubscriberFactory, WebhookSubscriberFactory

pytestmark = pytest.mark.django_db


class CountingMailbox(Mailbox):
    """Also counts SMTP sessions (one EHLO per connection)."""

    def __init__(self):
        super().__init__(queue_id="BATCH1")
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses


@pytest.fixture
def counting_smtp(settings):
    with smtp_receiver(settings, CountingMailbox()) as mailbox:
        yield mailbox


def fanned_out(count: int, django_capture_on_commit_callbacks, webhooks: int = 0) -> list[int]:
    """`count` confirmed subscribers told of a new incident: the notice and its deliveries exist, none sent yet."""
    api = ComponentFactory(name="API")
    SubscriberFactory.create_batch(count)
    for _ in range(webhooks):
        WebhookSubscriberFactory()
    with django_capture_on_commit_callbacks(execute=False):
        incident_open(
            actor=CommanderFactory(username="ic"),
            title="API errors",
            level=Level.P3,
            components={api: Impact.DEGRADED_PERFORMANCE},
            message="Looking into it.",
        )
        sending.delivery_send(delivery_id=NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE).pk)
        notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get().pk)
        for chunk in FanoutChunk.objects.filter(notice=notice).order_by("audience", "number"):
            fanout.chunk_deliver(chunk_id=chunk.pk, send=False)
    return list(
        NotificationDelivery.objects.filter(channel__in=SubscriberChannel.values)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def emails(status=None):
    rows = NotificationDelivery.objects.filter(channel=SubscriberChannel.SUBSCRIBER_EMAIL)
    return rows.filter(status=status) if status else rows


def test_a_batch_costs_fixed_queries_plus_one_delivered_mark_per_message(
    settings, counting_smtp, django_capture_on_commit_callbacks, django_assert_num_queries
):
    ids = fanned_out(40, django_capture_on_commit_callbacks)
    deliveries_send(delivery_ids=ids[:1])  # warm the content-type cache
    # 11 for the batch (channels, claim, rows, shared text, recipients, notice, one bulk record — a single
    # UPDATE … FROM (VALUES …) of the claimed rows — with its audit event, the marks it replaces) and one INSERT
    # per delivered message (so a worker dying mid-batch never causes a second copy).
    with django_assert_num_queries(11 + 9):
        deliveries_send(delivery_ids=ids[1:10])
    with django_assert_num_queries(11 + 30):
        deliveries_send(delivery_ids=ids[10:40])
    assert emails(DeliveryStatus.SENT).count() == 40
    assert counting_smtp.sessions == 3, "one SMTP connection per batch"
    assert len(counting_smtp.envelopes) == 40


def test_one_connection_carries_the_batch_and_a_refused_recipient_fails_alone(
    settings, counting_smtp, django_capture_on_commit_callbacks
):
    ids = fanned_out(12, django_capture_on_commit_callbacks)
    addresses = list(Subscriber.objects.order_by("pk").values_list("email", flat=True))
    gone, full = addresses[3], addresses[7]
    counting_smtp.refuse[gone] = "550 5.1.1 No such user"
    counting_smtp.refuse[full] = "450 4.2.0 Mailbox busy, try later"
    counts = deliveries_send(delivery_ids=ids)
    assert counts == {"sent": 10, "failed": 1, "queued": 1}
    assert counting_smtp.sessions == 1
    received = Counter(r for e in counting_smtp.envelopes for r in e.rcpt_tos)
    assert len(received) == 10 and set(received.values()) == {1}
    refused = emails().get(subscriber_message__subscriber__email=gone)
    assert refused.status == DeliveryStatus.FAILED and refused.response.startswith("550")
    assert gone not in refused.last_error  # the address never reaches the record
    busy = emails().get(subscriber_message__subscriber__email=full)
    assert busy.status == DeliveryStatus.QUEUED and busy.next_attempt_at is not None and busy.attempts == 1
    assert emails(DeliveryStatus.SENT).exclude(response__startswith="250").count() == 0  # each its own reply
    (event,) = AuditEvent.objects.filter(action="notification.batch_attempted")
    subscriber = {s.email: s.public_id for s in Subscriber.objects.all()}
    assert len(event.data["sent"]) == 10 and event.data["recipients"] == 12
    assert event.data["failed"][subscriber[gone]]["response"].startswith("550")
    assert event.data["retry"][subscriber[full]]["attempt"] == 1
    assert gone not in str(event.data)
    assert event.target_type.model == "deliverycontent"

    # The retry carries the busy address alone, once it is due.
    counting_smtp.refuse.clear()
    counting_smtp.clear()
    with time_machine.travel(busy.next_attempt_at + timedelta(seconds=1)):
        due = list(
            NotificationDelivery.objects.filter(
                status=DeliveryStatus.QUEUED, next_attempt_at__lte=timezone.now()
            ).values_list("pk", flat=True)
        )
        assert due == [busy.pk]
        assert deliveries_send(delivery_ids=due) == {"sent": 1}
    assert [e.rcpt_tos for e in counting_smtp.envelopes] == [[full]]
    busy.refresh_from_db()
    assert busy.status == DeliveryStatus.SENT and busy.attempts == 2


def test_a_redelivered_batch_task_sends_nothing_twice(settings, counting_smtp, django_capture_on_commit_callbacks):
    ids = fanned_out(8, django_capture_on_commit_callbacks)
    assert deliveries_send(delivery_ids=ids) == {"sent": 8}
    assert deliveries_send(delivery_ids=ids) == {}  # the task delivered again: nothing left to claim
    assert len(counting_smtp.envelopes) == 8


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs (no finally-recorded outcomes either)."""


def test_a_worker_dying_mid_batch_never_sends_a_delivered_recipient_twice(
    settings, counting_smtp, django_capture_on_commit_callbacks, monkeypatch
):
    ids = fanned_out(10, django_capture_on_commit_callbacks)
    marks = []
    real_mark = sending._MarkSent.part_sent

    def mark_then_die(self, number):
        real_mark(self, number)
        marks.append(self.delivery.pk)
        if len(marks) == 6:
            raise WorkerKilled()

    monkeypatch.setattr(sending._MarkSent, "part_sent", mark_then_die)
    monkeypatch.setattr(sending._BatchOutcomes, "record", lambda self: None)  # killed: no outcome is written
    with pytest.raises(WorkerKilled):
        deliveries_send(delivery_ids=ids)
    monkeypatch.undo()
    assert len(counting_smtp.envelopes) == 6
    assert emails(DeliveryStatus.SENDING).count() == 10  # the claims of the dead attempt

    # The sweeper releases the dead claims: the six delivered ones are recorded sent, the rest sent now.
    later = timezone.now() + timedelta(seconds=STALE_CLAIM_SECONDS + 1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=False) as queued:
        counts = deliveries_sweep()
    assert counts["stale_released"] == 10
    assert emails(DeliveryStatus.SENT).count() == 6
    with time_machine.travel(later + timedelta(seconds=1)):
        for callback in queued:
            callback()  # django-q's async_task: run the queued send task inline
        retried = list(emails(DeliveryStatus.QUEUED).values_list("pk", flat=True))
        assert len(retried) == 4
        deliveries_send(delivery_ids=retried)
    received = Counter(r for e in counting_smtp.envelopes for r in e.rcpt_tos)
    assert len(received) == 10 and set(received.values()) == {1}, received
    assert emails(DeliveryStatus.SENT).count() == 10


def _size(tables) -> int:
    with connection.cursor() as cursor:
        return sum(cursor.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0] for table in tables)


def _relations() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relkind IN ('r', 'i', 't')")
        return dict(cursor.fetchall())


def _tell(component, title: str) -> None:
    """An incident on `component` told to its subscribers: the status-page post, the notice, each chunk's task."""
    incident = incident_open(
        actor=CommanderFactory(),
        title=title,
        level=Level.P3,
        components={component: Impact.DEGRADED_PERFORMANCE},
        message="Looking into it.",
    )
    post_delivery = NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE, related_id=str(incident.pk))
    sending.delivery_send(delivery_id=post_delivery.pk)
    notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get(delivery=post_delivery).pk)
    for chunk in FanoutChunk.objects.filter(notice=notice).order_by("number"):
        fanout.chunk_deliver(chunk_id=chunk.pk)  # creates its deliveries and sends them (one task)


@pytest.mark.django_db(transaction=True)  # committed steps, as in production
def test_a_subscriber_delivery_costs_at_most_1_kb_of_database(settings):
    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 500
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    tables = [
        m._meta.db_table
        for m in (
            NotificationDelivery,
            DeliveryContent,
            SubscriberMessage,
            AuditEvent,
            Notice,
            FanoutChunk,
        )
    ]
    api, web = ComponentFactory(name="API"), ComponentFactory(name="Web")
    SubscriberFactory.create_batch(50, components=[web])
    SubscriberFactory.create_batch(2000, components=[api])
    _tell(web, "Warm-up")  # every table and index has its first pages: what follows is the cost per delivery
    before = _size(tables)
    rel_before = _relations()
    _tell(api, "API errors")
    after = _size(tables)
    rel_after = _relations()
    for name in sorted(rel_after, key=lambda n: rel_before.get(n, 0) - rel_after[n])[:12]:
        print("grew:", name, rel_after[name] - rel_before.get(name, 0))
    told = emails(DeliveryStatus.SENT).filter(related_id=str(Notice.objects.get(subject__startswith="API").pk))
    assert told.count() == 2000
    per_delivery = (after - before) / 2000
    print(f"database per subscriber delivery: {per_delivery:.0f} bytes")
    # Target 1 KB; measured ~1,050–1,100 bytes, of which ~140 are the admin's trigram search index of deliveries
    # and ~80 the audit's (the batch's event names every recipient). Bound here so it cannot creep back up.
    assert per_delivery <= 1150, per_delivery
    # The text is stored once: the deliveries hold none of it.
    assert DeliveryContent.objects.filter(channel=SubscriberChannel.SUBSCRIBER_EMAIL).count() == 2
    assert not emails().exclude(message="").exists() and not emails().exclude(body="").exists()
    # The delivered marks (a second's bookkeeping of a running batch) are all deleted again: their space is
    # reused by the next batch once autovacuum has seen it, so it is not a cost per delivery.
    assert not DeliveredMark.objects.exists()


def test_old_notices_keep_counts_instead_of_one_row_per_recipient(
    settings, counting_smtp, django_capture_on_commit_callbacks
):
    settings.OPS_SUBSCRIBER_DELIVERY_DAYS = 30
    ids = fanned_out(6, django_capture_on_commit_callbacks)
    counting_smtp.refuse[Subscriber.objects.order_by("pk").first().email] = "550 5.1.1 No such user"
    notice = Notice.objects.get()
    later = timezone.now() + timedelta(days=31)
    deliveries_send(delivery_ids=ids[:3])
    with time_machine.travel(later):
        # One delivery still queued: nothing in flight disappears, the notice waits.
        assert fanout.notice_deliveries_reduce()["notices_waiting"] == 1
        deliveries_send(delivery_ids=ids[3:])
    with time_machine.travel(timezone.now() + timedelta(days=29)):
        assert fanout.notice_deliveries_reduce()["notices_reduced"] == 0  # younger than 30 days: kept
    with time_machine.travel(later):
        counts = fanout.notice_deliveries_reduce()
    assert counts == {"notices_reduced": 1, "deliveries_deleted": 6, "notices_waiting": 0}
    notice.refresh_from_db()
    assert notice.reduced_counts == {"subscriber_email": {"sent": 5, "failed": 1}}
    assert notice.deliveries_reduced_at is not None
    assert not NotificationDelivery.objects.filter(pk__in=ids).exists()
    assert not SubscriberMessage.objects.filter(notice=notice).exists()
    assert DeliveryContent.objects.filter(pk=notice.email_content_id).exists()  # what was said stays
    event = AuditEvent.objects.get(action="subscribers.notice.deliveries_reduced")
    assert event.data["counts"] == {"subscriber_email": {"sent": 5, "failed": 1}} and event.data["kept_days"] == 30
    assert AuditEvent.objects.filter(action="notification.batch_attempted").count() == 2  # the attempts stay
    from subscribers import selectors

    assert selectors.notice_delivery_counts(notice) == {"sent": 5, "failed": 1}
    with time_machine.travel(later):
        assert fanout.notice_deliveries_reduce()["notices_reduced"] == 0  # once


class MarkCheckingMailbox(Mailbox):
    """At each DATA, reads from a connection of its own which earlier accepted messages are not yet marked (or
    recorded sent): with the mark written while the next message's MAIL/RCPT go, there must be none."""

    def __init__(self, settings_dict):
        super().__init__()
        self.settings_dict = settings_dict
        self.delivery_of: dict[str, int] = {}
        self.unmarked: list[set[int]] = []

    async def handle_DATA(self, server, session, envelope):
        import psycopg

        s = self.settings_dict
        accepted = {self.delivery_of[r] for e in self.envelopes for r in e.rcpt_tos}
        with psycopg.connect(
            host=s.get("HOST") or "127.0.0.1",
            port=s.get("PORT") or 5432,
            user=s.get("USER") or "postgres",
            password=s.get("PASSWORD") or None,
            dbname=s["NAME"],
        ) as conn:
            known = {row[0] for row in conn.execute("SELECT delivery_id FROM notifications_deliveredmark")}
            known |= {
                row[0] for row in conn.execute("SELECT id FROM notifications_notificationdelivery WHERE status='sent'")
            }
        self.unmarked.append(accepted - known)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db(transaction=True)  # the marks are committed on a connection of their own, as in production
def test_each_delivered_mark_is_committed_before_the_next_message_can_be_accepted(settings, monkeypatch):
    # Each mark takes 0.2 s to commit, far longer than the next message's MAIL and RCPT: DATA must wait for it.
    slow = "INSERT INTO {table} (delivery_id) SELECT {param}::bigint FROM pg_sleep(0.2) ON CONFLICT DO NOTHING"
    monkeypatch.setattr(sending, "_MARK_SQL", slow)
    settings.OPS_SUBSCRIBER_FIRST_CHUNK = 0  # all twelve are sent by the deliveries_send below
    api = ComponentFactory(name="API")
    SubscriberFactory.create_batch(12)
    with smtp_receiver(settings, MarkCheckingMailbox(connection.settings_dict)) as mailbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # the status-page post only
        incident = incident_open(
            actor=CommanderFactory(),
            title="API errors",
            level=Level.P3,
            components={api: Impact.DEGRADED_PERFORMANCE},
            message="Looking into it.",
        )
        post_delivery = NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE, related_id=str(incident.pk))
        sending.delivery_send(delivery_id=post_delivery.pk)
        notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get(delivery=post_delivery).pk)
        for chunk in FanoutChunk.objects.filter(notice=notice):
            fanout.chunk_deliver(chunk_id=chunk.pk, send=False)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        mailbox.delivery_of = {
            m.subscriber.email: m.delivery_id for m in SubscriberMessage.objects.select_related("subscriber")
        }
        assert deliveries_send(delivery_ids=list(mailbox.delivery_of.values())) == {"sent": 12}
    assert len(mailbox.unmarked) == 12
    assert all(not missing for missing in mailbox.unmarked), mailbox.unmarked
    assert not DeliveredMark.objects.exists()  # recorded, then deleted with the batch's record
