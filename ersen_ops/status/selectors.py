"""Reads of the status records: the version check (the only query of a cached request) and the components'
public status. The public documents (incidents, maintenances, history, feeds, calendar) are read by
`statuspage.selectors`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections

from ersen_ops.status import sources
from ersen_ops.status.models import Component, StatusVersion
from ersen_ops.status.snapshot import PublicComponent, build_components

# --- the version check: the only query of a cached request ------------------------------------------

_VERSION_SQL = f"SELECT version, changed_at_us FROM {StatusVersion._meta.db_table} WHERE id = %s"


_VERSION_SQL_PQ = (
    f"SELECT version, changed_at_us FROM {StatusVersion._meta.db_table} WHERE id = {StatusVersion.SINGLETON:d}"
).encode()


def _read_version(conn):
    if conn.vendor == "postgresql" and not conn.in_atomic_block and not conn.queries_logged:
        return _read_version_libpq(conn)
    with conn.cursor() as cursor:
        cursor.execute(_VERSION_SQL, [StatusVersion.SINGLETON])
        return cursor.fetchone()


_STATEMENT = b"ersen_status_version"


def _read_version_libpq(conn):
    """The same lookup as a prepared statement executed straight through libpq.

    It is the only query of a cached request, and the cursor layers (Django's wrapper, psycopg's
    parameter handling) and the planning cost several times the lookup itself. The statement is
    prepared on first use on each connection (and again if something deallocated it); behind a
    pooler that cannot keep prepared statements it falls back to a plain query. Used only in
    autocommit, and never when queries are being logged (DEBUG, tests counting queries), so
    nothing observable changes.
    """
    conn.ensure_connection()
    pgconn = conn.connection.pgconn
    try:
        result = pgconn.exec_prepared(_STATEMENT, [])
        if result.status != _TUPLES_OK:
            pgconn.prepare(_STATEMENT, _VERSION_SQL_PQ)
            result = pgconn.exec_prepared(_STATEMENT, [])
            if result.status != _TUPLES_OK:
                result = pgconn.exec_(_VERSION_SQL_PQ)
    except _pq_errors as exc:  # libpq could not even send the query (connection gone)
        raise OperationalError(f"status version lookup failed: {exc}") from exc
    if result.status != _TUPLES_OK:
        message = (result.error_message or b"").decode("utf-8", "replace").strip()
        raise OperationalError(f"status version lookup failed: {message or result.status}")
    if result.ntuples == 0:
        return None
    return int(result.get_value(0, 0)), int(result.get_value(0, 1))


try:
    from psycopg import Error as _pq_errors
    from psycopg import pq as _pq

    _TUPLES_OK = _pq.ExecStatus.TUPLES_OK
except ImportError:  # SQLite-only installs
    _TUPLES_OK, _pq_errors = None, ()


def status_version() -> tuple[int, int]:
    """(version, changed_at in µs) of the public status: one primary-key lookup, no ORM overhead.

    This is the only query of a cached request, so it doubles as the connection health check
    (CONN_HEALTH_CHECKS would otherwise spend a `SELECT 1` round trip first): if a persistent
    connection turns out to be dead, it is closed and the lookup retried once on a new one —
    what the health check would have done.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    retry = False
    if conn.connection is not None and conn.health_check_enabled and not conn.health_check_done:
        if not conn.in_atomic_block:
            conn.health_check_done = True
            retry = True
    try:
        row = _read_version(conn)
    except (OperationalError, InterfaceError):
        if not retry:
            raise
        try:
            conn.close()
        except DatabaseError:
            conn.connection = None
        row = _read_version(conn)
    return (int(row[0]), int(row[1])) if row else (0, 0)


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


# --- components --------------------------------------------------------------------------------------


def load_components() -> list[PublicComponent]:
    """All public components with their rolled-up status: one query, plus one per callable of each registered
    `sources.ComponentSource` (5 with incidents and maintenance)."""
    impacts, in_maintenance, last_changes = sources.collect()
    return build_components(
        Component.objects.all(), impacts=impacts, in_maintenance=in_maintenance, last_changes=last_changes
    )
