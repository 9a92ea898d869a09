#!/usr/bin/env python
"""Load benchmark of the health checker: 1,000 and 10,000 HTTP checks at a 30 s interval against a loopback target,
beside the raw rate of the same httpx client against the same target, in the same run.

    .venv/bin/python bench/checks_load.py [--seconds 45] [--sizes 1000,10000] [--concurrency 500]

What it does:
1. recreates its own PostgreSQL database (`ersen_bench_checks` on 127.0.0.1:5432; `--database-url` to change) and
   migrates it;
2. starts the target: a minimal asyncio HTTP/1.1 server (keep-alive, "200 ok") in its own process on 127.0.0.1;
3. measures the raw rate of the checker's own httpx clients (`checks.probes.ClientPool`, same connection limits and
   concurrency, no database, no schedule) against the target for 10 s: requests/s;
4. for each size: bulk-creates the checks (interval 30 s, due moments spread over the interval as in steady state),
   starts `manage.py checker` (production settings) and, after a 10 s warm-up, measures `--seconds`: checks performed
   per second, schedule lag p50/p99 (start of the probe − its due moment, as every result records), CPU of the
   checker process (user + system, all threads, from /proc), and database rows written per second (inserts + updates
   of the checks' tables, from pg_stat_user_tables);
5. capacity: makes all 10,000 checks due at once and times how fast the checker drains them (checks/s), to compare
   with the raw client rate;
6. prints the table and the targets: 10,000 checks / 30 s sustained (≥ 95 % of 333/s performed) with lag p99 < 1 s,
   and the checker's capacity ≥ 0.5 × the raw client rate. Exit status 0 when met, 1 otherwise.

The machine is shared (2 cores): the target, PostgreSQL and the checker run on the same cores, so the numbers are a
floor. Everything is loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_checks"
INTERVAL = 30
TICK = os.sysconf("SC_CLK_TCK")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CHECKS_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--seconds", type=float, default=45.0, help="measured seconds per size (after 10 s warm-up)")
    parser.add_argument("--concurrency", type=int, default=500, help="the checker's probes in flight (and the raw client's)")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)  # internal: run the target on this port
    return parser.parse_args()


# --- the target -----------------------------------------------------------------------------------------------

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _Target(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # GET requests have no body
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)


def serve(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_Target, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the target did not listen on {port}")


# --- the database -----------------------------------------------------------------------------------------------


def recreate_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def env_for(database_url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "0", "BEHIND_PROXY": "0",
        "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "warning", "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
    })
    return env


def setup_django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_checks(n: int, url: str, *, now: datetime) -> None:
    from checks.models import Check

    Check.objects.all().delete()
    step = INTERVAL / n
    Check.objects.bulk_create(
        (Check(name=f"bench {i}", url=url, interval_seconds=INTERVAL, timeout_seconds=5, failures_to_down=3,
               state="up", consecutive_successes=5,  # steady state: a check that has been up for a while
               next_due_at=now + timedelta(seconds=5 + i * step)) for i in range(n)),
        batch_size=2000,
    )


def table_writes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE relname IN ('checks_check', 'checks_checkresult')"
        )
        return int(cursor.fetchone()[0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime of all threads


def results_between(start: datetime, end: datetime) -> tuple[int, float | None, float | None]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms) FROM checks_checkresult "
            "WHERE at >= %s AND at < %s",
            [start, end],
        )
        return cursor.fetchone()


def start_checker(env: dict, concurrency: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "manage.py", "checker", "--name", "bench", "--concurrency", str(concurrency), "--sweep-seconds", "600"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- the raw client ---------------------------------------------------------------------------------------------


def raw_rate(url: str, *, concurrency: int, seconds: float = 10.0) -> float:
    from checks import probes

    async def main():
        done = 0
        async with probes.ClientPool(connections=concurrency) as clients:  # the checker's own clients
            deadline = time.monotonic() + seconds

            async def worker(i):
                nonlocal done
                client = clients.for_check(i)
                while time.monotonic() < deadline:
                    response = await client.get(url, timeout=5)
                    assert response.status_code == 200
                    done += 1

            started = time.monotonic()
            await asyncio.gather(*(worker(i) for i in range(concurrency)))
            return done / (time.monotonic() - started)

    return asyncio.run(main())


# --- the run ----------------------------------------------------------------------------------------------------


def steady(n: int, *, url: str, env: dict, seconds: float, concurrency: int, log: Path) -> dict:
    from django.utils import timezone

    create_checks(n, url, now=timezone.now())
    checker = start_checker(env, concurrency, log)
    try:
        time.sleep(10 + 5)  # Django start-up, then the warm-up
        t0, cpu0, rows0 = timezone.now(), cpu_seconds(checker.pid), table_writes()
        time.sleep(seconds)
        t1, cpu1, rows1 = timezone.now(), cpu_seconds(checker.pid), table_writes()
        time.sleep(1.5)  # the last batch is written
    finally:
        stop(checker)
    count, p50, p99 = results_between(t0, t1)
    elapsed = (t1 - t0).total_seconds()
    return {
        "checks": n, "checks_per_s": count / elapsed, "expected_per_s": n / INTERVAL, "lag_p50_ms": p50 or 0,
        "lag_p99_ms": p99 or 0, "cpu_pct": 100 * (cpu1 - cpu0) / elapsed, "rows_per_s": (rows1 - rows0) / elapsed,
    }


def capacity(n: int, *, url: str, env: dict, concurrency: int, log: Path) -> float:
    """All n checks due at once: how fast the checker drains them (checks/s, from the first to the last result)."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from checks.models import Check, CheckResult

    checker = start_checker(env, concurrency, log)
    try:
        time.sleep(8)  # start-up
        CheckResult.objects.all().delete()
        due = timezone.now() + timedelta(seconds=3)
        Check.objects.update(next_due_at=due, leased_by="", lease_until=None)
        deadline = time.monotonic() + 120
        while CheckResult.objects.filter(due_at=due).count() < n and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop(checker)
    span = CheckResult.objects.filter(due_at=due).aggregate(first=Min("at"), last=Max("at"), )
    done = CheckResult.objects.filter(due_at=due).count()
    seconds = max((span["last"] - due).total_seconds(), 0.001) if span["last"] else float("inf")
    return done / seconds


def main() -> int:
    args = parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    env = env_for(args.database_url)
    print(f"database {args.database_url} (recreated), migrating…", flush=True)
    recreate_database(args.database_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup_django(env)
    port = free_port()
    target = subprocess.Popen([PYTHON, __file__, "--serve", str(port)], start_new_session=True)
    logs = ROOT / "var"
    logs.mkdir(exist_ok=True)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/health"
        raw = raw_rate(url, concurrency=args.concurrency)
        print(f"raw httpx client against the target: {raw:,.0f} requests/s", flush=True)
        rows = []
        for n in sizes:
            print(f"{n:,} checks at {INTERVAL} s: measuring {args.seconds:.0f} s…", flush=True)
            rows.append(steady(n, url=url, env=env, seconds=args.seconds, concurrency=args.concurrency,
                               log=logs / f"bench-checker-{n}.log"))
        biggest = max(sizes)
        cap = capacity(biggest, url=url, env=env, concurrency=args.concurrency, log=logs / "bench-checker-burst.log")
    finally:
        os.killpg(target.pid, signal.SIGTERM)
        target.wait(timeout=10)
    print()
    print(f"{'checks':>8} {'checks/s':>9} {'expected':>9} {'lag p50':>9} {'lag p99':>9} {'checker CPU':>12} {'DB rows/s':>10}")
    for r in rows:
        print(f"{r['checks']:>8,} {r['checks_per_s']:>9.1f} {r['expected_per_s']:>9.1f} {r['lag_p50_ms']:>7.0f}ms"
              f" {r['lag_p99_ms']:>7.0f}ms {r['cpu_pct']:>11.0f}% {r['rows_per_s']:>10.0f}")
    print(f"capacity with all {biggest:,} due at once: {cap:,.0f} checks/s; raw httpx client: {raw:,.0f} requests/s "
          f"(ratio {cap / raw:.2f})")
    big = next((r for r in rows if r["checks"] == 10_000), None)
    ok = True
    if big is None:
        print("target not evaluated: it is stated for 10,000 checks (run with --sizes including 10000)")
        return 1
    sustained = big["checks_per_s"] >= 0.95 * big["expected_per_s"]
    lag = big["lag_p99_ms"] < 1000
    ratio = cap >= 0.5 * raw
    for met, what in ((sustained, f"10,000 checks / 30 s sustained: {big['checks_per_s']:.0f}/s of {big['expected_per_s']:.0f}/s"),
                      (lag, f"schedule lag p99 < 1 s: {big['lag_p99_ms']:.0f} ms"),
                      (ratio, f"capacity ≥ 0.5 × raw client rate: {cap:,.0f} vs {raw:,.0f} ({cap / raw:.2f} ×)")):
        print(f"{'target met' if met else 'TARGET MISSED'}: {what}")
        ok &= met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
