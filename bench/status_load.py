#!/usr/bin/env python
"""Load benchmark of the public status API: `summary.json` vs a trivial JsonResponse, same server, same run.

    .venv/bin/python bench/status_load.py [--workers 2×cores+1] [--connections 8,64] [--seconds 20] [--slice 2]

What it does:
1. creates its own PostgreSQL database (`ersen_bench` on 127.0.0.1:5432, user postgres; `--database-url`
   to change), migrates it and bulk-creates 10,000 incidents (30,000 updates) and 5,000 maintenance
   windows with their status-page posts (skipped when the data is already there; `--fresh` recreates);
2. measures an uncached render of summary.json in-process (what the first request after a change costs);
3. starts gunicorn on 127.0.0.1 (production settings, DEBUG off, push of the status version on, the bench-only
   trivial view switched on with OPS_BENCH_TRIVIAL_VIEW=1), warms every worker up;
4. for each number of connections (8 and 64): drives `/bench/trivial.json` and `/api/v2/summary.json` with `wrk`
   (Debian's package; the built-in asyncio client when wrk is missing) in alternating slices of `--slice` seconds,
   `--seconds` in all for each (short slices spread the noise of a shared machine evenly over both endpoints);
5. prints requests/s and p99 latency of both, the ratios and the targets (issue 19: status ≥ 0.95 × the trivial
   view's throughput and p99 ≤ 1.2 × its p99, at 8 and at 64 connections);
6. freshness: commits 10 changes from this process, and after each polls summary.json from 16 connections until
   every response for 200 ms shows it; the time of the last stale response after the commit is the lag
   (target: ≤ 100 ms, every change);
7. stops gunicorn (its own process group only).

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import drop_database, ensure_database, migrate, setup_django  # noqa: E402

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench"
STATUS_PATH = "/api/v2/summary.json"
TRIVIAL_PATH = "/bench/trivial.json"
INCIDENTS = 10_000
WINDOWS = 5_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default: gunicorn's recommendation, 2 × cores + 1)",
    )
    parser.add_argument("--connections", default="8,64", help="concurrent client connections, one run each")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per endpoint and run")
    parser.add_argument("--slice", type=float, default=2.0, help="length of each alternating slice")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark database")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database at the end")
    return parser.parse_args()


def server_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_PROXY": "0",
            "SECURE_HSTS_SECONDS": "0",
            "OPS_BENCH_TRIVIAL_VIEW": "1",
            "LOG_LEVEL": "warning",
            "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
            # whitenoise warns once per worker that collectstatic has not run; the bench serves no static files.
            "PYTHONWARNINGS": "ignore:No directory at",
        }
    )
    return env


# --- the database -----------------------------------------------------------------------------------------------


def seed() -> None:
    """10,000 incidents and 5,000 windows, bulk-created (a few seconds), unless already there."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    from ersen_ops.notifications.models import NotificationDelivery
    from ersen_ops.status.models import Component, StatusPost
    from ersen_ops.status.services import status_version_bump
    from incidents.models import Incident, IncidentComponent, IncidentUpdate
    from maintenance.choices import WindowEvent
    from maintenance.models import MaintenanceWindow

    if Incident.objects.count() >= INCIDENTS and MaintenanceWindow.objects.count() >= WINDOWS:
        print(f"data already there: {Incident.objects.count()} incidents, {MaintenanceWindow.objects.count()} windows")
        return
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    with transaction.atomic():
        names = ["API", "Website", "Database", "Payments", "Search", "Email", "Widgets", "Login"]
        components = [Component.objects.get_or_create(name=n, defaults={"position": i})[0] for i, n in enumerate(names)]
        incidents = Incident.objects.bulk_create(
            (
                Incident(
                    title=f"Incident {n}",
                    level=("P1", "P2", "P3", "P4")[n % 4],
                    status="resolved" if n >= 5 else "investigating",
                    opened_at=now - timedelta(hours=n),
                    resolved_at=now - timedelta(hours=n) + timedelta(minutes=45) if n >= 5 else None,
                    acknowledged_at=now - timedelta(hours=n) + timedelta(minutes=5),
                    response_due_at=now - timedelta(hours=n) + timedelta(hours=1),
                    internal_notes="internal",
                )
                for n in range(INCIDENTS)
            ),
            batch_size=2000,
        )
        IncidentComponent.objects.bulk_create(
            (
                IncidentComponent(incident=i, component=components[n % len(components)], impact="partial_outage")
                for n, i in enumerate(incidents)
            ),
            batch_size=5000,
        )
        IncidentUpdate.objects.bulk_create(
            (
                IncidentUpdate(
                    incident=i,
                    status=status,
                    body=f"{status.capitalize()}: update {n} of incident {i.pk}.",
                    public=public,
                    created_at=i.opened_at + delay,
                )
                for n, i in enumerate(incidents)
                for status, public, delay in (
                    ("investigating", True, timedelta(minutes=2)),
                    ("identified", False, timedelta(minutes=10)),
                    ("resolved" if i.resolved_at else "monitoring", True, timedelta(minutes=45)),
                )
            ),
            batch_size=5000,
        )
        windows = MaintenanceWindow.objects.bulk_create(
            (
                MaintenanceWindow(
                    title=f"Maintenance {n}",
                    status="scheduled" if n < 5 else ("completed", "completed", "cancelled")[n % 3],
                    planned_start=now + timedelta(days=1 + n) if n < 5 else now - timedelta(days=n // 4, hours=n % 24),
                    planned_end=(now + timedelta(days=1 + n) if n < 5 else now - timedelta(days=n // 4, hours=n % 24))
                    + timedelta(hours=1),
                    announced_at=now - timedelta(days=n // 4 + 2),
                    actual_start=None if n < 5 else now - timedelta(days=n // 4, hours=n % 24),
                    actual_end=None if n < 5 else now - timedelta(days=n // 4, hours=n % 24) + timedelta(minutes=50),
                    closed_at=None if n < 5 else now - timedelta(days=n // 4, hours=n % 24) + timedelta(hours=2),
                    announcement=f"## Scheduled Maintenance\n\n**Impact**: window {n}.",
                    impact="Short read-only periods.",
                    reason="Routine upgrade.",
                )
                for n in range(WINDOWS)
            ),
            batch_size=2000,
        )
        through = MaintenanceWindow.components.through
        through.objects.bulk_create(
            (through(maintenancewindow_id=w.pk, component_id=components[n % 3].pk) for n, w in enumerate(windows)),
            batch_size=5000,
        )
        ct = ContentType.objects.get_for_model(MaintenanceWindow)
        deliveries = NotificationDelivery.objects.bulk_create(
            (
                NotificationDelivery(
                    event=WindowEvent.SCHEDULED,
                    channel="status_page",
                    subject=w.title,
                    body=w.announcement,
                    related_type=ct,
                    related_id=str(w.pk),
                    status="sent",
                    sent_at=w.announced_at,
                )
                for w in windows
            ),
            batch_size=2000,
        )
        StatusPost.objects.bulk_create(
            (
                StatusPost(
                    delivery=d,
                    related_type=ct,
                    related_id=d.related_id,
                    event=d.event,
                    subject=d.subject,
                    body=d.body,
                    created_at=d.sent_at,
                )
                for d in deliveries
            ),
            batch_size=2000,
        )
        status_version_bump()  # bulk_create sends no signals
    print(f"seeded {INCIDENTS} incidents and {WINDOWS} windows in {time.perf_counter() - started:.1f} s")


def uncached_render_ms(repeat: int = 5) -> float:
    """What the first request after a change costs: render summary.json with an empty cache (in-process)."""
    from django.db import connection
    from django.test import RequestFactory

    from statuspage import caching, views

    request = RequestFactory(HTTP_HOST="127.0.0.1").get(STATUS_PATH)
    times = []
    for _ in range(repeat):
        caching.documents.clear()
        started = time.perf_counter()
        response = views.api_summary(request)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    connection.close()
    return statistics.median(times)


# --- the server -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            GUNICORN,
            "ersen_ops.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, so we stop exactly it and its workers
    )


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _, _ = asyncio.run(request(port, "/healthz"))
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready")


# --- the client ------------------------------------------------------------------------------------------------------


async def request(port: int, path: str, headers: str = "") -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read(-1)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    parsed = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    return status, parsed, body


async def load(port: int, path: str, concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, _, _ = await request(port, path)
            except OSError:
                errors += 1
                continue
            if status != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def summarise(runs: list[dict]) -> dict:
    latencies = sorted(x for r in runs for x in r["latencies"])
    elapsed = sum(r["elapsed"] for r in runs)
    count = len(latencies)
    return {
        "requests": count,
        "errors": sum(r["errors"] for r in runs),
        "rps": count / elapsed if elapsed else 0.0,
        "median_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if latencies else float("nan"),
    }


def freshness_lags(port: int, changes: int = 10, connections: int = 16, settle: float = 0.2) -> list[float]:
    """After each committed change, the time until the last stale response any worker gave (seconds)."""
    import json

    from ersen_ops.status.models import Component

    component = Component.objects.order_by("position").first()

    async def probe(target: str, committed: float) -> float:
        last_stale = 0.0
        fresh_since = None

        async def one():
            nonlocal last_stale, fresh_since
            while True:
                status, _, body = await request(port, STATUS_PATH)
                now = time.perf_counter()
                shown = next(c["status"] for c in json.loads(body)["components"] if c["id"] == component.public_id)
                # Open incidents may show the component worse than "operational": only the outage is the change.
                if status != 200 or (shown == "major_outage") != (target == "major_outage"):
                    last_stale, fresh_since = max(last_stale, now - committed), None
                elif fresh_since is None:
                    fresh_since = now
                if fresh_since is not None and now - fresh_since >= settle or now - committed > 10:
                    return

        await asyncio.gather(*(one() for _ in range(connections)))
        return last_stale

    lags = []
    for n in range(changes):
        target = "major_outage" if n % 2 == 0 else "operational"
        component.status = target
        component.save()  # the version moves in this (autocommit) transaction; every worker hears of it
        lags.append(asyncio.run(probe(target, time.perf_counter())))
    return lags


def wrk_run(port: int, path: str, connections: int, seconds: float) -> dict | None:
    """One wrk run: requests/s and p99 (ms); None when wrk is not installed."""
    import re
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    done = re.search(r"^\s*(\d+) requests in", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * units[p99.group(2)],
        "requests": int(done.group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def measure(port: int, connections: int, seconds: float, slice_seconds: float) -> dict:
    """Alternating slices of both endpoints; requests/s over all slices, p99 as the median of the slices' p99."""
    runs: dict[str, list] = {"trivial": [], "status": []}
    slices = max(1, round(seconds / slice_seconds))
    for n in range(slices):
        order = (("trivial", TRIVIAL_PATH), ("status", STATUS_PATH))
        for name, path in order if n % 2 == 0 else reversed(order):
            result = wrk_run(port, path, connections, slice_seconds)
            if result is None:  # no wrk: the asyncio client
                raw = summarise([asyncio.run(load(port, path, connections, slice_seconds))])
                result = {"rps": raw["rps"], "p99_ms": raw["p99_ms"], "requests": raw["requests"], "errors": raw["errors"]}
            runs[name].append(result)
    out = {}
    for name, rows in runs.items():
        out[name] = {
            "rps": statistics.mean(r["rps"] for r in rows),
            "p99_ms": statistics.median(r["p99_ms"] for r in rows),
            "requests": sum(r["requests"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
        }
    return out


def main() -> int:
    args = parse_args()
    env = server_env(args.database_url)
    ensure_database(args.database_url, args.fresh)
    migrate(env)
    setup_django(env)
    seed()
    render_ms = uncached_render_ms()
    port = free_port()
    proc = start_gunicorn(env, port, args.workers)
    counts = [int(c) for c in args.connections.split(",")]
    try:
        wait_ready(port)
        # Warm-up: every worker imports, connects, starts its version listener and renders once.
        asyncio.run(load(port, TRIVIAL_PATH, 16, 2.0))
        asyncio.run(load(port, STATUS_PATH, 16, 3.0))
        results = {n: measure(port, n, args.seconds, args.slice) for n in counts}
        lags = freshness_lags(port)
        _, headers, body = asyncio.run(request(port, STATUS_PATH))
    finally:
        stop_gunicorn(proc)
    import shutil

    tool = "wrk -t2" if shutil.which("wrk") else "the asyncio client (wrk not installed)"
    print()
    print(
        f"gunicorn {args.workers} sync workers on 127.0.0.1, {tool}, {args.seconds:.0f} s per endpoint and run in "
        f"alternating {args.slice:g}-s slices, {INCIDENTS} incidents, {WINDOWS} windows; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"summary.json: {len(body)} bytes, Cache-Control: {headers.get('cache-control')}")
    print(f"uncached render of summary.json (first request after a change): {render_ms:.1f} ms")
    print(f"{'connections':>11} {'endpoint':<22}{'req/s':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    met = True
    for n in counts:
        trivial, status = results[n]["trivial"], results[n]["status"]
        for name, row in (("trivial JsonResponse", trivial), ("summary.json", status)):
            print(f"{n:>11} {name:<22}{row['rps']:>10.0f}{row['p99_ms']:>10.2f}{row['requests']:>10}{row['errors']:>8}")
        throughput_ratio = status["rps"] / trivial["rps"] if trivial["rps"] else 0.0
        p99_ratio = status["p99_ms"] / trivial["p99_ms"] if trivial["p99_ms"] else float("inf")
        ok = throughput_ratio >= 0.95 and p99_ratio <= 1.2 and not status["errors"]
        met &= ok
        print(
            f"{n:>11} throughput {throughput_ratio:.2f}× (target ≥ 0.95), p99 {p99_ratio:.2f}× (target ≤ 1.2): "
            f"{'met' if ok else 'MISSED'}"
        )
    fresh_ok = max(lags) <= 0.100
    met &= fresh_ok
    print(
        f"freshness after a committed change, across workers: median {statistics.median(lags) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms over {len(lags)} changes (target ≤ 100 ms: {'met' if fresh_ok else 'MISSED'})"
    )
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
