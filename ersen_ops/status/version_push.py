"""Every process learns of a new public status version by push, so a cached public request costs no database trip.

PostgreSQL's LISTEN/NOTIFY: a trigger on the version row (migration 0006) notifies `ersen_status_version` with the
new version in the transaction that moves it — delivered only when that transaction commits, to every listener at
once. Each process runs one listener thread (started on first use, and again after a fork: gunicorn's workers each
have their own) on its own connection: it LISTENs, then reads the version, then waits; every notification carries the
new version; every `KEEPALIVE` seconds without one it reads the version again (which also proves the connection is
alive and heals a missed notification).

While the listener is connected, `current()` answers from memory. It answers None — and the caller reads the version
from the database per request, as before push existed — when the listener is not connected yet or has lost its
connection (database restart: it reconnects with backoff), on SQLite, inside a transaction (the caller may have just
changed the status itself), and for `OWN_COMMIT_GRACE` seconds after this process committed a change (so the process
that changed the status never serves its own change late; other processes hear of it within milliseconds).

Why the database and not Redis pub/sub: the version moves inside the changing transaction, and NOTIFY is
transactional (sent at commit, never for a rollback); a Redis publish would have to be sent after the commit, by
every writer, and is lost when a writer dies in between.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)

CHANNEL = "ersen_status_version"
KEEPALIVE = 5.0
OWN_COMMIT_GRACE = 0.25
_PARAMS = ("host", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "sslcert", "sslkey", "options")


class VersionWatch:
    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._known: tuple[int, int] | None = None
        self._own_commit_until = 0.0
        self._conn = None
        self.connected = threading.Event()

    # --- what requests ask --------------------------------------------------------------------------------------

    def current(self) -> tuple[int, int] | None:
        """(version, changed_at in µs) as pushed, or None: read the database instead."""
        if not settings.OPS_STATUS_PUSH:
            return None
        conn = connections[DEFAULT_DB_ALIAS]
        if conn.vendor != "postgresql" or conn.in_atomic_block:
            return None
        if self._pid != os.getpid():
            self.start()
        if time.monotonic() < self._own_commit_until:
            return None
        return self._known

    def changed_here(self) -> None:
        """This process is committing a change of the public status: read the database for a moment."""
        if settings.OPS_STATUS_PUSH:
            transaction.on_commit(self._mark_own_commit)

    def _mark_own_commit(self) -> None:
        self._own_commit_until = time.monotonic() + OWN_COMMIT_GRACE

    # --- the listener -------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()  # after a fork the parent's thread is gone: start this process's own
            self._known = None
            self._stop.clear()
            self.connected.clear()
            params = connections[DEFAULT_DB_ALIAS].get_connection_params()
            params = {key: params[key] for key in _PARAMS if params.get(key) not in (None, "")}
            self._thread = threading.Thread(target=self._run, args=(params,), name="status-version-listener", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn, thread = self._conn, self._thread
        if conn is not None:
            try:
                conn.cancel_safe(timeout=1.0) if hasattr(conn, "cancel_safe") else conn.cancel()
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
        if thread is not None:
            thread.join(timeout)
        self._known, self._thread, self._pid = None, None, None
        self.connected.clear()

    def _run(self, params: dict) -> None:
        import psycopg

        backoff = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(**params, autocommit=True, application_name="ersen-status-listener") as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._known = self._read(conn)  # after LISTEN: a change in between is read here or notified
                    self.connected.set()
                    backoff = 0.2
                    while not self._stop.is_set():
                        heard = None
                        # Never break out of the generator: it would drop the rest of a packet's notifications.
                        for notify in conn.notifies(timeout=KEEPALIVE, stop_after=1):
                            heard = max(heard or (0, 0), _parse(notify.payload))
                        self._known = max(self._known or (0, 0), heard) if heard else self._read(conn)
            except Exception as exc:  # noqa: BLE001 - any failure: fall back to per-request reads, retry
                self._known = None
                self.connected.clear()
                if not self._stop.is_set():
                    logger.warning("status version listener down (%s); requests read the version meanwhile", exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
            finally:
                self._conn = None
        self._known = None

    @staticmethod
    def _read(conn) -> tuple[int, int]:
        row = conn.execute("SELECT version, changed_at_us FROM status_statusversion WHERE id = 1").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def _parse(payload: str) -> tuple[int, int]:
    version, _, changed_us = payload.partition(":")
    return int(version), int(changed_us or 0)


watch = VersionWatch()
