"""A real qcluster sends a Slack delivery; while the receiver handles the POST, PostgreSQL drops every connection
of the worker. The message was accepted, so the delivery ends sent — once: not retried as if the send had failed,
not left `sending` for the sweeper to send again."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from werkzeug.wrappers import Response

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.sending import deliveries_sweep
from ersen_ops.notifications.services import notify
from tests.processes import Worker, worker_env

pytestmark = pytest.mark.slow

SLACK_PATH = "/slack/drop"


def _terminator(keep_pid: int):
    """A request handler that ends every other backend of the test database, then accepts the message."""
    import psycopg

    s = connection.settings_dict

    def handle(request):
        with psycopg.connect(
            host=s.get("HOST") or "127.0.0.1",
            port=s.get("PORT") or 5432,
            user=s.get("USER") or "postgres",
            password=s.get("PASSWORD") or None,
            dbname=s["NAME"],
            autocommit=True,
        ) as conn:
            ended = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
                [keep_pid],
            ).fetchone()[0]
        handle.ended.append(ended)
        return Response("ok", status=200)

    handle.ended = []
    return handle


def test_a_delivery_being_sent_when_the_connection_drops_ends_sent_exactly_once(
    transactional_postgres, httpserver, tmp_path
):
    connection.ensure_connection()
    handler = _terminator(connection.connection.info.backend_pid)
    httpserver.expect_request(SLACK_PATH, method="POST").respond_with_handler(handler)
    worker = Worker(worker_env(key_file="", SLACK_WEBHOOK_URL=httpserver.url_for(SLACK_PATH)), tmp_path / "q.log")
    try:
        worker.wait_ready()
        with transaction.atomic():
            (delivery,) = notify(event="runbook.execution.failed", channels=[Channel.SLACK], subject="S", body="B")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
                break
            time.sleep(0.2)
        log = worker.log.read_text()
    finally:
        worker.stop()
    assert handler.ended and handler.ended[0] >= 1, "the worker's connections were ended mid-send"
    assert delivery.status == DeliveryStatus.SENT, (delivery.status, delivery.last_error, log[-3000:])
    assert delivery.attempts == 1 and delivery.response == "HTTP 200 OK" and delivery.last_error == ""
    assert delivery.parts_sent == delivery.parts_total == 1
    assert len(httpserver.log) == 1
    actions = list(AuditEvent.objects.filter(target_id=str(delivery.pk)).values_list("action", flat=True))
    assert actions.count("notification.sent") == 1 and "notification.retry_scheduled" not in actions
    # Nothing left for the sweeper: an hour later it queues nothing and the receiver still saw one POST.
    assert deliveries_sweep(now=delivery.sent_at + timedelta(hours=1))["queued"] == 0
    assert "database connection lost during recording a delivery's progress" in log
