"""Surviving a dropped database connection in long-running worker loops (the runner, senders, sweepers).

Django does not reconnect by itself: after PostgreSQL ends a backend (a restart, a failover,
`pg_terminate_backend`), every later query on that connection object fails again, and the
code that tries to record the failure dies on the same dead connection.

`db_retry` wraps one SHORT state-writing transaction (or a control poll): on `OperationalError` /
`InterfaceError` raised outside an atomic block it closes the broken connection (the next query
opens a new one) and runs the function again, with a short backoff, for at most
`OPS_DB_RETRY_SECONDS`; then it raises `DatabaseUnavailable`, whose message says for how long
and what failed. Inside an atomic block it never retries (the outer transaction is already
lost): the error goes up to the code that owns the transaction.

Only wrap functions that are safe to run twice: each is one transaction (all or nothing) guarded
by a claim token or a conditional UPDATE, so a retry after a commit whose answer was lost is a no-op.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError)
# Waits between attempts (seconds); the last one repeats until the time budget is used up.
BACKOFF = (0.2, 0.5, 1.0, 2.0)
# However long the budget, never more attempts than this.
MAX_ATTEMPTS = 60

# Indirection so a test can count waits; production uses time.sleep.
sleep: Callable[[float], None] = time.sleep


class DatabaseUnavailable(Exception):
    """The database stayed unreachable for the whole retry budget. `str(exc)` says what, how long, why."""

    def __init__(self, message: str, *, what: str, seconds: float, attempts: int, cause: BaseException | None):
        super().__init__(message)
        self.what = what
        self.seconds = seconds
        self.attempts = attempts
        self.cause = cause


def describe_error(exc: BaseException) -> str:
    """The first line of a database error, e.g. "OperationalError: terminating connection due to …"."""
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def reset_connection(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Close this thread's connection if it is broken, so the next query reconnects (never inside atomic)."""
    conn = connections[alias]
    if conn.in_atomic_block:
        return
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead socket may itself fail; the object is reset either way
        conn.connection = None


def retry_budget() -> float:
    return float(getattr(settings, "OPS_DB_RETRY_SECONDS", 30))


def call_with_retry(func: Callable, *args, what: str = "", seconds: float | None = None, **kwargs):
    """Run `func(*args, **kwargs)`, retrying on a dropped connection (see the module docstring)."""
    what = what or getattr(func, "__qualname__", repr(func))
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.in_atomic_block:
        return func(*args, **kwargs)  # the caller's transaction owns the error
    budget = retry_budget() if seconds is None else seconds
    started = time.monotonic()
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            result = func(*args, **kwargs)
        except RETRYABLE as exc:
            reset_connection()
            elapsed = max(time.monotonic() - started, waited)
            wait = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
            if attempt >= MAX_ATTEMPTS or elapsed + wait > budget:
                message = (
                    f"the database was unreachable for {elapsed:.0f} s ({attempt} attempts at {what}; "
                    f"the limit is OPS_DB_RETRY_SECONDS={budget:g}): {describe_error(exc)}"
                )
                logger.error("giving up: %s", message)
                raise DatabaseUnavailable(message, what=what, seconds=elapsed, attempts=attempt, cause=exc) from exc
            logger.warning(
                "database connection lost during %s (attempt %s, %s); reconnecting in %.1f s",
                what,
                attempt,
                describe_error(exc),
                wait,
            )
            sleep(wait)
            waited += wait
            continue
        if attempt > 1:
            logger.warning("database reconnected: %s succeeded at attempt %s", what, attempt)
        return result


def db_retry(func: Callable | None = None, *, what: str = "", seconds: float | None = None):
    """Decorator form of `call_with_retry`: `@db_retry` or `@db_retry(what="…")`."""

    def decorate(f: Callable) -> Callable:
        label = what or f"{f.__module__}.{f.__qualname__}"

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            return call_with_retry(f, *args, what=label, seconds=seconds, **kwargs)

        wrapper.without_retry = f  # type: ignore[attr-defined]
        return wrapper

    return decorate(func) if func is not None else decorate
