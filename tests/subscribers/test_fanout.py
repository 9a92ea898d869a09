"""Fan-out: notices split into chunk tasks; each chunk queues one delivery per recipient in constant queries;
redelivered tasks and races do nothing twice; a failing address does not hold up the others; lost chunks
are re-queued by the sweeper."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel, DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import delivery_send
from ersen_ops.status.models import StatusPost
from incidents.choices import Impact, Level
from incidents.services import incident_open
from subscribers import fanout, services
from subscribers.choices import NoticeStatus, SubscriberStatus
from subscribers.models import ComponentState, FanoutChunk, Notice, Subscriber, SubscriberMessage
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory
from tests.subscribers.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db):
    return ComponentFactory(name="API")


def open_incident(api):
    return incident_open(
        actor=CommanderFactory(username="ic"),
        title="API errors",
        level=Level.P3,
        components={api: Impact.DEGRADED_PERFORMANCE},
        message="Looking into it.",
    )


def publish_without_fanning_out(api) -> Notice | None:
    """The incident is opened and its status-page post published; the notice is planned, chunks not run."""
    open_incident(api)
    delivery_send(delivery_id=NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE).pk)
    return fanout.notice_from_status_post(post_id=StatusPost.objects.get().pk)


def test_a_notice_is_split_into_chunks_and_every_subscriber_gets_one_email(settings, api, pipeline):
    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 20
    SubscriberFactory.create_batch(45)
    with pipeline():
        open_incident(api)
    notice = Notice.objects.get()
    assert notice.status == NoticeStatus.FANNED_OUT and notice.fanned_out_at is not None
    assert (notice.email_recipients, notice.chunks_total, notice.chunks_done, notice.deliveries_queued) == (
        45,
        3,
        3,
        45,
    )
    assert [len(c.recipient_ids) for c in notice.chunks.order_by("number")] == [20, 20, 5]
    assert len(mail.outbox) == 45 and len({m.to[0] for m in mail.outbox}) == 45
    deliveries = NotificationDelivery.objects.filter(channel=SubscriberChannel.SUBSCRIBER_EMAIL)
    assert deliveries.filter(status=DeliveryStatus.SENT).count() == 45
    assert AuditEvent.objects.filter(action="subscribers.chunk.queued").count() == 3
    assert AuditEvent.objects.filter(action="subscribers.notice.fanned_out").count() == 1
    # One audit event per batch attempt (a chunk here), naming every recipient by public id with its outcome.
    batches = AuditEvent.objects.filter(action="notification.batch_attempted", data__channel="subscriber_email")
    assert batches.count() == 3
    named = [ref for event in batches for ref in event.data["sent"]]
    assert sorted(named) == sorted(Subscriber.objects.values_list("public_id", flat=True))
    assert not AuditEvent.objects.filter(action="notification.sent", data__channel="subscriber_email").exists()


def test_the_first_email_chunk_is_small_and_sent_by_the_notices_own_task_before_the_others_are_queued(
    settings, api, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 20
    settings.OPS_SUBSCRIBER_FIRST_CHUNK = 3
    subscribers = SubscriberFactory.create_batch(45)
    open_incident(api)
    delivery_send(delivery_id=NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE).pk)
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get().pk)
    chunks = list(notice.chunks.order_by("number"))
    assert [len(c.recipient_ids) for c in chunks] == [3, 20, 20, 2]
    # The first three subscribers were told by the notice's task itself: no queue hop between them and the update.
    assert chunks[0].done_at is not None and all(c.done_at is None for c in chunks[1:])
    assert sorted(m.to[0] for m in mail.outbox) == sorted(s.email for s in subscribers[:3])
    assert NotificationDelivery.objects.filter(
        channel=SubscriberChannel.SUBSCRIBER_EMAIL, status=DeliveryStatus.SENT
    ).count() == 3
    # The other chunks are on the queue, one task each, and the first is not queued a second time.
    queued = [task.task["args"] for task in OrmQ.objects.order_by("id")]
    assert queued == [(c.pk,) for c in chunks[1:]]
    assert AuditEvent.objects.filter(action="subscribers.chunk.queued", data__chunk=1).count() == 1


def test_a_first_chunk_the_notices_task_cannot_deliver_is_queued_like_the_others(
    settings, api, django_capture_on_commit_callbacks, monkeypatch
):
    from django_q.models import OrmQ

    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 20
    settings.OPS_SUBSCRIBER_FIRST_CHUNK = 3
    SubscriberFactory.create_batch(23)
    open_incident(api)
    delivery_send(delivery_id=NotificationDelivery.objects.get(channel=Channel.STATUS_PAGE).pk)
    OrmQ.objects.all().delete()

    def broken(**kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(fanout, "chunk_deliver", broken)
    with django_capture_on_commit_callbacks(execute=True):
        notice = fanout.notice_from_status_post(post_id=StatusPost.objects.get().pk)
    first, rest = notice.chunks.order_by("number")
    assert first.done_at is None and not mail.outbox
    assert sorted(task.task["args"] for task in OrmQ.objects.all()) == [(first.pk,), (rest.pk,)]


def test_a_chunk_costs_the_same_queries_for_10_and_100_recipients(settings, api):
    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 500
    settings.OPS_SUBSCRIBER_FIRST_CHUNK = 0  # one chunk of them all
    counts = []
    for size in (10, 100):
        SubscriberMessage.objects.all().delete()
        Subscriber.objects.all().delete()
        StatusPost.objects.all().delete()
        NotificationDelivery.objects.all().delete()
        SubscriberFactory.create_batch(size)
        notice = publish_without_fanning_out(api)
        (chunk,) = notice.chunks.all()
        with CaptureQueriesContext(connection) as ctx:
            assert fanout.chunk_deliver(chunk_id=chunk.pk) == size
        sql = [q["sql"] for q in ctx.captured_queries]
        counts.append((len(sql), len([q for q in sql if not q.startswith("INSERT")])))
    # Reads and updates do not grow with the chunk. Bulk inserts are one statement per table on PostgreSQL;
    # SQLite splits them by its bound-parameter limit (a few statements per 200 rows, still per chunk).
    assert counts[0][1] == counts[1][1], counts
    if connection.vendor == "postgresql":
        assert counts[0][0] == counts[1][0], counts


def test_a_redelivered_chunk_task_queues_nothing_twice(api):
    SubscriberFactory.create_batch(5)
    notice = publish_without_fanning_out(api)
    (chunk,) = notice.chunks.all()
    assert fanout.chunk_deliver(chunk_id=chunk.pk) == 5
    assert fanout.chunk_deliver(chunk_id=chunk.pk) == 0
    # Even a chunk marked undone again (a crash between commit and acknowledgement) finds its recipients served.
    FanoutChunk.objects.filter(pk=chunk.pk).update(done_at=None)
    assert fanout.chunk_deliver(chunk_id=chunk.pk) == 0
    assert SubscriberMessage.objects.filter(notice=notice).count() == 5


def test_one_post_makes_one_notice(api):
    SubscriberFactory()
    notice = publish_without_fanning_out(api)
    post = StatusPost.objects.get()
    assert fanout.notice_from_status_post(post_id=post.pk) == notice
    assert Notice.objects.count() == 1


def test_nothing_is_recorded_when_nobody_is_subscribed(api):
    assert publish_without_fanning_out(api) is None
    assert not Notice.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="subscribers.").exists()


def test_a_refused_address_does_not_hold_up_the_others(smtp, api, pipeline):
    SubscriberFactory(email="first@example.com")
    SubscriberFactory(email="bounces@example.com")
    SubscriberFactory(email="last@example.com")
    smtp.refuse = {"bounces@example.com": "550 5.1.1 no such user"}
    with pipeline():
        open_incident(api)
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == ["first@example.com", "last@example.com"]
    failed = NotificationDelivery.objects.get(channel=SubscriberChannel.SUBSCRIBER_EMAIL, status=DeliveryStatus.FAILED)
    assert failed.response == "550 5.1.1 no such user"
    assert "bounces@example.com" not in failed.last_error  # the address stays in the subscriber row only
    assert failed.target_name.startswith("subscriber sub_")


def test_the_sweeper_requeues_a_chunk_whose_task_was_lost(api, pipeline):
    SubscriberFactory.create_batch(3)
    notice = publish_without_fanning_out(api)  # its chunk task was queued after commit … and lost
    assert fanout.fanout_sweep()["chunks_requeued"] == 0  # too early to call it lost
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        with pipeline():
            assert fanout.fanout_sweep()["chunks_requeued"] == 1
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.FANNED_OUT and len(mail.outbox) == 3


def test_unconfirmed_subscriptions_are_deleted_after_the_pending_period(settings):
    settings.OPS_SUBSCRIBE_PENDING_DAYS = 7
    old = SubscriberFactory(status=SubscriberStatus.PENDING, confirmed_at=None)
    Subscriber.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=8), confirmation_sent_at=timezone.now() - timedelta(days=8)
    )
    recent = SubscriberFactory(status=SubscriberStatus.PENDING, confirmed_at=None)
    confirmed = SubscriberFactory()
    Subscriber.objects.filter(pk=confirmed.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert services.pending_purge() == 1
    assert set(Subscriber.objects.values_list("pk", flat=True)) == {recent.pk, confirmed.pk}
    assert AuditEvent.objects.get(action="subscribers.pending_purged").data["count"] == 1


def test_a_component_seen_for_the_first_time_is_recorded_without_a_notice(api):
    SubscriberFactory()
    api.status = "major_outage"
    api.save()
    assert fanout.component_changes_detect() == []
    assert ComponentState.objects.get(component=api).public_status == "major_outage"
    api.status = "operational"
    api.save()
    (notice,) = fanout.component_changes_detect()
    assert notice.subject == "API: Operational (was Major outage)" and notice.emails
    assert fanout.component_changes_detect() == []  # told once


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_chunk_queue_it_once(transactional_postgres, api, settings):
    settings.OPS_SUBSCRIBER_FIRST_CHUNK = 0  # one chunk, run by the two workers below and not by the notice's task
    SubscriberFactory.create_batch(30)
    notice = publish_without_fanning_out(api)
    (chunk,) = notice.chunks.all()
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            results.append(fanout.chunk_deliver(chunk_id=chunk.pk))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 30]
    assert SubscriberMessage.objects.filter(notice=notice).count() == 30
