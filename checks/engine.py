"""The checker: one asyncio loop probing thousands of checks, sharing the work with other checkers through PostgreSQL.

- Claim: every tick, due checks (due within `lookahead` seconds, lease free or expired) are claimed with
  `SELECT … FOR UPDATE SKIP LOCKED` and leased to this checker until due + timeout + 2 s. Several checkers never
  claim the same check; a checker that is killed leaves leases that expire, and another takes its checks over within
  one interval (the timeout is shorter than the interval).
- Probe: each claimed check waits for its due moment, then runs (httpx AsyncClient for HTTP(S), asyncio streams for
  TCP/TLS), at most `concurrency` at a time.
- Write: results are buffered and written in batches (`services.results_record`: one INSERT + one UPDATE, and a short
  locked transaction for each state change). All database work runs in one worker thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django import db
from django.conf import settings
from django.db import connection, transaction

from . import policy, probes, services
from .choices import CheckType

logger = logging.getLogger("checks.checker")

_CLAIM_SQL = """
WITH due AS (
    SELECT id FROM checks_check
    WHERE enabled AND next_due_at <= %(horizon)s AND (lease_until IS NULL OR lease_until < %(now)s)
    ORDER BY next_due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE checks_check AS c
SET leased_by = %(me)s,
    lease_until = GREATEST(c.next_due_at, %(now)s) + make_interval(secs => c.timeout_seconds + 2)
FROM due WHERE c.id = due.id
RETURNING c.id, c.type, c.url, c.method, c.expected_status, c.body_contains, c.body_regex, c.latency_limit_ms,
          c.max_redirects, c.cert_warning_days, c.host, c.port, c.timeout_seconds, c.next_due_at, c.state,
          c.consecutive_failures, c.consecutive_successes, c.failures_to_down, c.successes_to_up, c.interval_seconds,
          c.lease_until
"""


@dataclass
class Claimed:
    spec: probes.ProbeSpec
    due_at: datetime
    state: str
    consecutive_failures: int
    consecutive_successes: int
    failures_to_down: int
    successes_to_up: int
    interval_seconds: int
    component_ids: list[int]
    lease_until: datetime


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_COLUMNS = ("id", "type", "url", "method", "expected_status", "body_contains", "body_regex", "latency_limit_ms",
            "max_redirects", "cert_warning_days", "host", "port", "timeout_seconds", "next_due_at", "state",
            "consecutive_failures", "consecutive_successes", "failures_to_down", "successes_to_up", "interval_seconds",
            "lease_until")


def _claim_rows_portable(*, me: str, now: datetime, horizon: datetime, limit: int) -> list[tuple]:
    """The same claim without SKIP LOCKED (SQLite, `make run` without PostgreSQL: one writer at a time anyway)."""
    from django.db.models import Q

    from .models import Check

    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    ids = list(Check.objects.filter(free, enabled=True, next_due_at__lte=horizon).order_by("next_due_at")
               .values_list("pk", flat=True)[:limit])
    rows = []
    for check in Check.objects.filter(free, pk__in=ids):
        lease = max(check.next_due_at, now) + timedelta(seconds=policy.lease_seconds(timeout_s=check.timeout_seconds))
        if Check.objects.filter(free, pk=check.pk).update(leased_by=me, lease_until=lease):
            check.lease_until = lease
            rows.append(tuple(getattr(check, c) for c in _COLUMNS))
    return rows


def claim(*, me: str, now: datetime, lookahead_s: float, limit: int) -> list[Claimed]:
    """Lease up to `limit` due checks to `me` (one short transaction)."""
    horizon = now + timedelta(seconds=lookahead_s)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_CLAIM_SQL, {"horizon": horizon, "now": now, "limit": limit, "me": me})
                rows = cursor.fetchall()
        else:
            rows = _claim_rows_portable(me=me, now=now, horizon=horizon, limit=limit)
    if not rows:
        return []
    components = services.components_of(r[0] for r in rows)
    claimed = []
    for (pk, type_, url, method, expected, contains, regex, latency_limit, redirects, warning_days, host, port,
         timeout, due, state, failures, successes, f2d, s2u, interval, lease_until) in rows:
        spec = probes.ProbeSpec(
            id=pk, type=type_, url=url, method=method, expected_status=expected, body_contains=contains,
            body_regex=regex, latency_limit_ms=latency_limit, max_redirects=redirects, cert_warning_days=warning_days,
            host=host, port=port, timeout_s=timeout,
        )
        claimed.append(Claimed(spec, due, state, failures, successes, f2d, s2u, interval, components.get(pk, []),
                               lease_until))
    return claimed


def release(*, me: str, check_ids: list[int]) -> None:
    """Give back leases this checker will not use (on a clean stop), so another checker runs them at once."""
    if check_ids:
        from .models import Check

        Check.objects.filter(pk__in=check_ids, leased_by=me).update(leased_by="", lease_until=None)


class Checker:
    def __init__(self, *, name: str | None = None, concurrency: int = 500, claim_limit: int = 2000,
                 lookahead_s: float = 2.0, tick_s: float = 0.2, flush_s: float = 0.5, batch_size: int = 1000,
                 sweep_s: float = 30.0):
        self.name = name or default_name()
        self.concurrency, self.claim_limit, self.lookahead_s = concurrency, claim_limit, lookahead_s
        self.tick_s, self.flush_s, self.batch_size, self.sweep_s = tick_s, flush_s, batch_size, sweep_s
        self.buffer: list[services.ResultIn] = []
        self.waiting: dict[int, asyncio.Task] = {}
        self.stats = {"claimed": 0, "probed": 0, "written": 0, "changed": 0}
        # Two database threads (each with its own connection): claims never wait behind a batch being written.
        self._db_claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checker-claims")
        self._db_writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checker-writes")

    async def _in_db(self, fn, *args, executor=None, **kwargs):
        def call():
            db.close_old_connections()
            try:
                return fn(*args, **kwargs)
            except db.Error:
                db.connection.close()  # a dropped connection: reconnect next time
                raise
        return await asyncio.get_running_loop().run_in_executor(executor or self._db_writes, call)

    async def _probe(self, item: Claimed, semaphore: asyncio.Semaphore, clients, tls_context) -> None:
        try:
            delay = (item.due_at - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            async with semaphore:
                started = datetime.now(UTC)
                if started >= item.lease_until:
                    return  # the lease ran out while it waited: it is claimable again (by any checker)
                client = clients.for_check(item.spec.id)
                if item.spec.type == CheckType.HEARTBEAT:
                    outcome = probes.ProbeOutcome(True, "")  # judged under the row lock (services)
                else:
                    outcome = await probes.run_probe(item.spec, client=client, tls_context=tls_context)
                finished = datetime.now(UTC)
            self.stats["probed"] += 1
            self.buffer.append(services.ResultIn(
                check_id=item.spec.id, type=item.spec.type, due_at=item.due_at, started_at=started,
                finished_at=finished, outcome=outcome, state=item.state,
                consecutive_failures=item.consecutive_failures, consecutive_successes=item.consecutive_successes,
                failures_to_down=item.failures_to_down, successes_to_up=item.successes_to_up,
                interval_seconds=item.interval_seconds, component_ids=item.component_ids,
            ))
        finally:
            self.waiting.pop(item.spec.id, None)

    async def _flush(self) -> None:
        while self.buffer:
            batch, self.buffer = self.buffer[: self.batch_size], self.buffer[self.batch_size:]
            try:
                done = await self._in_db(services.results_record, results=batch, checker=self.name)
                self.stats["written"] += done["results"]
                self.stats["changed"] += done["changed"]
            except Exception:
                logger.exception("writing %d results failed; their checks run again when the leases expire",
                                 len(batch))

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.flush_s)
            except TimeoutError:
                pass
            await self._flush()

    async def _sweeper(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.sweep_s)
                return
            except TimeoutError:
                pass
            try:
                await self._in_db(services.automation_sweep)
                await self._in_db(services.evidence_sweep)
            except Exception:
                logger.exception("the automation sweep failed; it runs again in %s s", self.sweep_s)

    async def run(self, stop: asyncio.Event) -> None:
        ca_bundle = settings.OPS_CHECK_CA_BUNDLE
        semaphore = asyncio.Semaphore(self.concurrency)
        tls_context = probes.ssl_context(ca_bundle)
        logger.info("checker %s started (concurrency %d)", self.name, self.concurrency)
        async with probes.ClientPool(ca_bundle=ca_bundle, connections=self.concurrency) as clients:
            flusher = asyncio.create_task(self._flusher(stop))
            sweeper = asyncio.create_task(self._sweeper(stop))
            while not stop.is_set():
                tick_started = time.monotonic()
                try:
                    room = self.claim_limit - len(self.waiting)
                    claimed = await self._in_db(claim, me=self.name, now=datetime.now(UTC), executor=self._db_claims,
                                                lookahead_s=self.lookahead_s, limit=room) if room > 0 else []
                except Exception:
                    logger.exception("claiming due checks failed; retrying")
                    claimed = []
                    await asyncio.sleep(1)
                self.stats["claimed"] += len(claimed)
                for item in claimed:
                    if item.spec.id in self.waiting:
                        continue  # re-claimed after its lease ran out while it still waits here: run it once
                    self.waiting[item.spec.id] = asyncio.create_task(self._probe(item, semaphore, clients, tls_context))
                if len(claimed) < room or room <= 0:
                    elapsed = time.monotonic() - tick_started
                    try:
                        await asyncio.wait_for(stop.wait(), max(0.0, self.tick_s - elapsed))
                    except TimeoutError:
                        pass
            # Stopping: probes already running finish (bounded by their timeouts); unstarted claims are released.
            not_started = [cid for cid, task in self.waiting.items() if not task.done()]
            for task in list(self.waiting.values()):
                task.cancel()
            await asyncio.gather(*self.waiting.values(), return_exceptions=True)
            await flusher
            sweeper.cancel()
            await self._flush()
            try:
                await self._in_db(release, me=self.name, check_ids=not_started)
            except Exception:
                logger.exception("releasing leases failed; they expire by themselves")
        self._db_claims.shutdown(wait=True)
        self._db_writes.shutdown(wait=True)
        logger.info("checker %s stopped: %s", self.name, self.stats)


