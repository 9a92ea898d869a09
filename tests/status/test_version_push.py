"""The public status version pushed to each process (LISTEN/NOTIFY): no database trip per cached request while the
listener is connected, the database read as before whenever it is not."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from ersen_ops.status import selectors
from ersen_ops.status.models import Component
from ersen_ops.status.services import status_version_bump
from ersen_ops.status.version_push import watch
from tests.status.factories import build_example

SUMMARY = "/api/v2/summary.json"


@pytest.fixture
def push(settings, transactional_postgres):
    settings.OPS_STATUS_PUSH = True
    build_example()
    watch.start()
    assert watch.connected.wait(10), "the listener did not connect"
    yield watch
    watch.stop()


def _admin():
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"), dbname=params["dbname"],
        autocommit=True,
    )


def _in_another_process_like_connection(change):
    """Commit `change` on another connection (another gunicorn worker, as far as this process can tell)."""
    def run():
        try:
            change()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def _until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def test_a_commit_elsewhere_is_pushed_and_then_served_without_a_query(push, client, django_assert_num_queries):
    before = selectors.status_version()
    assert _until(lambda: push.current() == before)

    def change():
        component = Component.objects.order_by("position").first()
        component.status = "partial_outage"
        component.save()

    _in_another_process_like_connection(change)
    assert _until(lambda: push.current() is not None and push.current()[0] > before[0]), "no notification arrived"
    assert push.current() == selectors.status_version()
    first = client.get(SUMMARY)  # renders the new state once
    assert b"partial_outage" in first.content
    with django_assert_num_queries(0):
        again = client.get(SUMMARY)
    assert again.status_code == 200 and again["ETag"] == first["ETag"]


def test_a_rolled_back_change_is_never_pushed(push):
    before = selectors.status_version()
    assert _until(lambda: push.current() == before)

    def change():
        with pytest.raises(RuntimeError), transaction.atomic():
            status_version_bump()
            raise RuntimeError("rolled back")

    _in_another_process_like_connection(change)
    time.sleep(0.3)
    assert push.current() == before == selectors.status_version()


def test_this_process_reads_its_own_change_from_the_database_at_once(push, client, django_assert_num_queries):
    assert _until(lambda: push.current() is not None)
    component = Component.objects.order_by("position").first()
    component.status = "major_outage"
    component.save()  # committed here: for a moment this process does not trust the push
    assert push.current() is None
    assert b"major_outage" in client.get(SUMMARY).content


def test_a_lost_listener_connection_falls_back_to_the_database_and_reconnects(push, client, django_assert_num_queries):
    assert _until(lambda: push.current() is not None)
    client.get(SUMMARY)
    with _admin() as admin:
        admin.execute(  # this test database's listener only (another xdist worker has its own)
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'ersen-status-listener' AND datname = current_database()"
        )
    assert _until(lambda: push.current() is None), "the dead listener was still trusted"
    with django_assert_num_queries(1):  # the per-request version read, as without push
        assert client.get(SUMMARY).status_code == 200
    assert _until(lambda: push.current() is not None), "the listener did not reconnect"
    with django_assert_num_queries(0):
        assert client.get(SUMMARY).status_code == 200


def test_inside_a_transaction_the_database_is_read(push):
    assert _until(lambda: push.current() is not None)
    with transaction.atomic():
        assert push.current() is None


def test_switched_off_no_listener_is_started(settings, transactional_postgres):
    settings.OPS_STATUS_PUSH = False
    assert watch.current() is None
    assert watch._thread is None or not watch._thread.is_alive()
