"""`db_retry`: a terminated PostgreSQL backend is reconnected and the short transaction runs again; a database that
stays away is given up on after OPS_DB_RETRY_SECONDS with the reason in words; inside a transaction nothing retries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction

from ersen_ops.core import db
from ersen_ops.core.db import DatabaseUnavailable, db_retry


def _terminate_own_backend():
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def test_a_terminated_connection_is_reopened_and_the_transaction_runs_again(transactional_postgres, monkeypatch):
    waits = []
    monkeypatch.setattr(db, "sleep", waits.append)
    calls = []

    @db_retry
    def count_users():
        calls.append(1)
        with transaction.atomic():
            get_user_model().objects.create(username=f"user{len(calls)}")
            return get_user_model().objects.count()

    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    _terminate_own_backend()
    # Without a reconnect, Django keeps using the dead connection: the next query fails the same way.
    assert count_users() == 1
    assert len(calls) == 2 and waits == [0.2]
    assert connection.connection.info.backend_pid != old_pid


def test_inside_a_transaction_nothing_is_retried(postgres, settings, monkeypatch):
    settings.OPS_DB_RETRY_SECONDS = 3
    waits = []
    monkeypatch.setattr(db, "sleep", waits.append)

    @db_retry(what="writing the test row")
    def always_down():
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    # Inside a transaction (pytest's `db`), nothing retries: the owner of the transaction gets the error.
    with pytest.raises(OperationalError):
        always_down()
    assert waits == []


def test_a_database_that_stays_away_is_given_up_on_with_the_reason_in_words(
    transactional_postgres, settings, monkeypatch
):
    settings.OPS_DB_RETRY_SECONDS = 3
    waits = []
    monkeypatch.setattr(db, "sleep", waits.append)

    @db_retry(what="writing the test row")
    def always_down():
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    with pytest.raises(DatabaseUnavailable) as caught:
        always_down()
    assert waits == [0.2, 0.5, 1.0]  # 1.7 s waited; another 2 s would pass the 3 s budget
    assert str(caught.value) == (
        "the database was unreachable for 2 s (4 attempts at writing the test row; the limit is "
        "OPS_DB_RETRY_SECONDS=3): OperationalError: connection to server at 127.0.0.1 failed: Connection refused"
    )


SWEEPERS = [
    "runbooks.tasks.reap_lost_executions",
    "runbooks.tasks.start_waiting_executions",
    "ersen_ops.notifications.tasks.sweep_deliveries",
    "subscribers.tasks.sweep",
    "incidents.tasks.check_sla",
    "maintenance.tasks.mark_overdue",
    "maintenance.tasks.send_reminders",
    "maintenance.tasks.sweep_sent_summaries",
    "ersen_ops.core.tasks.heartbeat",
]


def test_every_sweeper_runs_to_its_end_after_its_connection_was_terminated(transactional_postgres, monkeypatch):
    import pydoc

    monkeypatch.setattr(db, "sleep", lambda seconds: None)
    for path in SWEEPERS:  # one test: a transactional test's flush costs seconds
        sweeper = pydoc.locate(path)
        connection.ensure_connection()
        _terminate_own_backend()
        sweeper()  # today: OperationalError on the dead connection, and the same at every later query
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
