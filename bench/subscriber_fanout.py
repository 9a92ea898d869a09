#!/usr/bin/env python
"""Fan-out benchmark: one public incident update reaching N email subscribers and W webhooks through a REAL qcluster.

    .venv/bin/python bench/subscriber_fanout.py [--subscribers 5000] [--webhooks 100] [--broker orm|redis|both]
                                                [--workers 8] [--keep]

What it does, per broker (ORM, then Redis on a database number of its own):
1. a fresh PostgreSQL database (`ersen_bench_subscribers`, `--database-url`), migrated; N confirmed subscribers
   (70 % of everything, 30 % of "API") and W webhooks, bulk-created;
2. the receivers in a process of their own (so they do not share the benchmark's interpreter): an SMTP sink
   (aiosmtpd) counting every recipient and the time of its first and last message, and an HTTP receiver
   checking every webhook's signature;
3. the sink's raw rates, measured from here with smtplib and a ~3 KB message: one connection carrying 2,000
   messages, and one connection per message (400) — before the fan-out and again after it;
4. `manage.py qcluster` (Q_WORKERS workers) started as a separate process on that database and broker;
5. the update: `incidents.services.incident_post_update(public=True)` commits; from that moment the clock runs
   until the sink has every subscriber and the receiver every webhook;
6. prints: the time to the first email and to the last delivery, the rate against the sink's one-connection rate
   (ratio), duplicates (must be 0), every delivery's recorded state, the database bytes per subscriber delivery
   (pg_total_relation_size of the fan-out tables before/after, and of the whole database), the load average,
   and whether each target was met:
   all reached ≤ 300 s and rate ≥ 0.5 × the one-connection rate; first email ≤ 2 s; ≤ 1,024 bytes per delivery.

Exit status 0 when every target is met for every broker run. The rate and size targets are the issue's for 100,000
subscribers; a smaller run prints them for reference and does not fail on them.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import multiprocessing
import os
import secrets
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import stop_process_group  # noqa: E402

LOG_DIR = Path(tempfile.gettempdir())  # the worker's log, named in an error if it does not start
PYTHON = sys.executable
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_subscribers"
TARGET_SECONDS = 300
TARGET_RATIO = 0.5
TARGET_FIRST_EMAIL = 2.0
TARGET_BYTES = 1024
# The issue sets the rate and size targets for 100,000 subscribers: a 5,000-subscriber run lasts seconds (the
# qcluster's start and the sink's first connections weigh in) and its tables' first pages outweigh its rows.
TARGET_SCALE = 100_000
FANOUT_TABLES = [
    "notifications_notificationdelivery",
    "notifications_deliverycontent",
    "notifications_deliveredmark",
    "subscribers_subscribermessage",
    "subscribers_notice",
    "subscribers_fanoutchunk",
    "audit_auditevent",
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both")
    parser.add_argument("--redis-url", default=f"redis://127.0.0.1:6379/{10 + os.getpid() % 6}")
    # The workers mostly wait on the SMTP sink and PostgreSQL now (each ~10–30 % of a core): 8 hide that latency.
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database at the end")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the receivers (a process of their own) ---------------------------------------------------------------------


def receivers(conn, smtp_port: int, http_port: int) -> None:
    """SMTP sink + webhook receiver; answers `conn` commands: ("secrets", {...}), ("stats",), ("reset",), ("stop",)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller

    state = {"lock": threading.Lock()}

    def reset():
        with state["lock"]:
            state.update(rcpt={}, first=None, last=None, hooks={}, hook_first=None, hook_last=None, bad=0)

    reset()
    hook_secrets: dict[str, str] = {}

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
            now = time.time()
            with state["lock"]:
                for rcpt in envelope.rcpt_tos:
                    if rcpt.startswith("reader"):
                        state["rcpt"][rcpt] = state["rcpt"].get(rcpt, 0) + 1
                        state["first"] = state["first"] or now
                        state["last"] = now
            return "250 2.0.0 Ok: queued"

    class Hooks(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            secret = hook_secrets.get(self.path, "")
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            now = time.time()
            with state["lock"]:
                state["hooks"][self.path] = state["hooks"].get(self.path, 0) + 1
                state["hook_first"] = state["hook_first"] or now
                state["hook_last"] = now
                if not hmac.compare_digest(expected, self.headers.get("X-Ersen-Signature", "")):
                    state["bad"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), Hooks)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    conn.send("ready")
    while True:
        command, *rest = conn.recv()
        if command == "secrets":
            hook_secrets.update(rest[0])
            conn.send("ok")
        elif command == "reset":
            reset()
            conn.send("ok")
        elif command == "stats":
            with state["lock"]:
                conn.send(
                    {
                        "unique": len(state["rcpt"]),
                        "total": sum(state["rcpt"].values()),
                        "first": state["first"],
                        "last": state["last"],
                        "hooks_unique": len(state["hooks"]),
                        "hooks_total": sum(state["hooks"].values()),
                        "hook_last": state["hook_last"],
                        "bad_signatures": state["bad"],
                    }
                )
        elif command == "stop":
            smtp.stop()
            http.shutdown()
            conn.send("ok")
            return


def raw_rates(smtp_port: int) -> tuple[float, float]:
    """(messages/s over one connection, messages/s with one connection per message) with a ~3 KB message."""
    body = "\r\n".join(["Status update: the API is degraded; we are rolling back a bad deploy now."] * 40)
    message = f"From: status@example.com\r\nTo: sink@example.com\r\nSubject: rate\r\n\r\n{body}\r\n"
    n = 2000
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        for _ in range(n):
            client.sendmail("status@example.com", ["sink@example.com"], message)
    one = n / (time.perf_counter() - t0)
    n = 400
    t0 = time.perf_counter()
    for _ in range(n):
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.sendmail("status@example.com", ["sink@example.com"], message)
    each = n / (time.perf_counter() - t0)
    return one, each


# --- database, Django, the worker ------------------------------------------------------------------------------


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def environment(database_url: str, smtp_port: int, *, redis_url: str, workers: int, secret_key: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secret_key,
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_PROXY": "0",
            "SECURE_HSTS_SECONDS": "0",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "OPS_EMAIL_TO": "",
            "OPS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",  # the benchmark's webhook receiver listens on loopback
            "OPS_STATUS_PAGE_URL": "https://status.example",
            "LOG_LEVEL": "warning",
            "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
            "PYTHONWARNINGS": "ignore:No directory at",
            "REDIS_URL": redis_url,
            "Q_WORKERS": str(workers),
        }
    )
    return env


def sizes(cursor) -> tuple[int, int]:
    total = 0
    for table in FANOUT_TABLES:
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        total += cursor.fetchone()[0]
    cursor.execute("SELECT pg_database_size(current_database())")
    return total, cursor.fetchone()[0]


def run_once(args, *, broker: str, receivers_conn, smtp_port: int, http_port: int) -> dict:
    redis_url = args.redis_url if broker == "redis" else ""
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()  # its own database number: nothing of anyone else's
    # The key this process was set up with: the worker must verify what this process signs (tasks, links).
    env = environment(
        args.database_url, smtp_port, redis_url=redis_url, workers=args.workers, secret_key=args.secret_key
    )
    print(f"\n=== broker {broker}: database {args.database_url.rsplit('/', 1)[1]}: recreating, migrating …", flush=True)
    recreate_database(args.database_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)

    from django.db import connection, connections, transaction
    from django.db.models import Count
    from django.utils import timezone
    from django_q.conf import Conf

    from ersen_ops.core.models import WorkerHeartbeat
    from ersen_ops.notifications.choices import DeliveryStatus, SubscriberChannel
    from ersen_ops.notifications.models import NotificationDelivery
    from ersen_ops.status.models import Component
    from incidents.choices import Impact, IncidentStatus, Level
    from incidents.services import incident_open, incident_post_update
    from subscribers.choices import SubscriberStatus
    from subscribers.fanout import component_changes_detect
    from subscribers.models import FanoutChunk, Notice, Subscriber, WebhookSubscriber
    from subscribers.services import new_webhook_secret

    connections.close_all()
    # This process queues through the same broker as the worker.
    Conf.ORM, Conf.REDIS = (None, redis_url) if redis_url else ("default", None)
    started = time.perf_counter()
    api = Component.objects.create(name="API", position=1)
    Component.objects.create(name="Dashboard", position=2)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    component_changes_detect()  # the baseline of component statuses
    # The incident is opened (and its own notice told to nobody yet, run here) before anyone subscribes, so the
    # measured update is the only fan-out.
    Conf.SYNC = True
    try:
        with transaction.atomic():
            incident = incident_open(
                actor=user,
                title="Elevated API errors",
                level=Level.P3,
                components={api: Impact.PARTIAL_OUTAGE},
                message="Investigating.",
            )
    finally:
        Conf.SYNC = False
    now = timezone.now()
    Subscriber.objects.bulk_create(
        (
            Subscriber(email=f"reader{n}@example.com", status=SubscriberStatus.CONFIRMED, confirmed_at=now)
            for n in range(args.subscribers)
        ),
        batch_size=5000,
    )
    through = Subscriber.components.through
    ids = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))
    through.objects.bulk_create(
        (through(subscriber_id=pk, component_id=api.pk) for pk in ids[: len(ids) * 3 // 10]), batch_size=5000
    )
    hook_secrets = {}
    for n in range(args.webhooks):
        path = f"/hooks/{n}"
        webhook = WebhookSubscriber.objects.create(
            name=f"Partner {n}", url=f"http://127.0.0.1:{http_port}{path}", secret=new_webhook_secret()
        )
        hook_secrets[path] = webhook.secret
    receivers_conn.send(("secrets", hook_secrets))
    receivers_conn.recv()
    print(
        f"seeded {args.subscribers} subscribers and {args.webhooks} webhooks in {time.perf_counter() - started:.1f} s"
    )

    # The worker: a real qcluster on this database and broker.
    log = open(LOG_DIR / f"bench-fanout-qcluster-{broker}.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [PYTHON, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not WorkerHeartbeat.objects.exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"qcluster did not start: {(LOG_DIR / f'bench-fanout-qcluster-{broker}.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        receivers_conn.send(("reset",))
        receivers_conn.recv()
        rate_before = raw_rates(smtp_port)
        receivers_conn.send(("reset",))
        receivers_conn.recv()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            before = sizes(cursor)
        load_before = os.getloadavg()

        # --- the measured update --------------------------------------------------------------------------
        with transaction.atomic():
            incident_post_update(
                actor=user, incident=incident, status=IncidentStatus.IDENTIFIED, body="A bad deploy; rolling back."
            )
        committed = time.time()
        stats = _wait_for_all(receivers_conn, args, timeout=args.timeout, label="the update", since=committed)
        finished = time.time()
        load_during = os.getloadavg()
        time.sleep(2)  # the last batches record their outcomes
        with connection.cursor() as cursor:
            after = sizes(cursor)
        rate_after = raw_rates(smtp_port)
    finally:
        stop_process_group(worker)
        log.close()

    notice = Notice.objects.get(event="incident.identified")
    # Where the first email's time went: each stage's time after the commit (the rows' own timestamps).
    post = notice.status_post
    first_chunk = FanoutChunk.objects.filter(notice=notice, audience="email").order_by("done_at").first()
    first_delivery = (
        NotificationDelivery.objects.filter(related_id=str(notice.pk), channel=SubscriberChannel.SUBSCRIBER_EMAIL)
        .exclude(sent_at=None)
        .order_by("sent_at")
        .first()
    )
    stages = {
        "status post written": post.created_at.timestamp() - committed if post else None,
        "notice written": notice.created_at.timestamp() - committed,
        "first email chunk started": first_chunk.done_at.timestamp() - committed if first_chunk else None,
        "first email recorded sent": first_delivery.sent_at.timestamp() - committed if first_delivery else None,
    }
    deliveries = NotificationDelivery.objects.filter(related_id=str(notice.pk), channel__in=SubscriberChannel.values)
    by_status = dict(deliveries.order_by().values_list("status").annotate(n=Count("id")))
    email_count = notice.email_recipients
    reached = stats["unique"] == email_count and stats["hooks_unique"] == args.webhooks
    last = max(stats["last"] or 0, stats["hook_last"] or 0)
    result = {
        "broker": broker,
        "emails": email_count,
        "webhooks": args.webhooks,
        "reached": reached,
        "first_email": (stats["first"] - committed) if stats["first"] else None,
        "first_email_stages": stages,
        "all_reached": (last - committed) if reached else None,
        "timed_out_after": None if reached else finished - committed,
        "duplicates": stats["total"] - stats["unique"] + stats["hooks_total"] - stats["hooks_unique"],
        "bad_signatures": stats["bad_signatures"],
        "recorded": by_status,
        "all_recorded_sent": by_status.get(DeliveryStatus.SENT, 0) == email_count + args.webhooks,
        "bytes_per_delivery": (after[0] - before[0]) / max(email_count, 1),
        "db_bytes_per_delivery": (after[1] - before[1]) / max(email_count, 1),
        "sink_one_connection": (rate_before[0] + rate_after[0]) / 2,
        "sink_per_message": (rate_before[1] + rate_after[1]) / 2,
        "sink_rates": {"before": rate_before, "after": rate_after},
        "load": {"before": load_before, "during": load_during},
    }
    if reached:
        result["rate"] = email_count / result["all_reached"]
        result["ratio"] = result["rate"] / result["sink_one_connection"]
    connections.close_all()
    return result


def _wait_for_all(receivers_conn, args, *, timeout: float, label: str, since: float | None = None) -> dict:
    from subscribers.models import Notice

    deadline = time.monotonic() + timeout
    shown = 0.0
    while time.monotonic() < deadline:
        receivers_conn.send(("stats",))
        stats = receivers_conn.recv()
        expected = sum(Notice.objects.values_list("email_recipients", flat=True).order_by("-id")[:1]) or None
        done = expected is not None and stats["unique"] >= expected and stats["hooks_unique"] >= args.webhooks
        if since is not None and time.monotonic() - shown > 15:
            shown = time.monotonic()
            print(
                f"  {label}: {time.time() - since:6.1f} s  {stats['unique']} emails, {stats['hooks_unique']} webhooks",
                flush=True,
            )
        if done:
            return stats
        time.sleep(0.25)
    receivers_conn.send(("stats",))
    return receivers_conn.recv()


def report(results: list[dict]) -> bool:
    ok = True
    print("\n" + "=" * 100)
    for r in results:
        print(f"broker {r['broker']}: {r['emails']} email subscribers + {r['webhooks']} webhooks, one public update")
        one, each = r["sink_one_connection"], r["sink_per_message"]
        print(
            f"  sink raw rate (same run, mean of before/after): one connection {one:7.0f} msg/s, "
            f"one connection per message {each:7.0f} msg/s  (before {r['sink_rates']['before'][0]:.0f}/"
            f"{r['sink_rates']['before'][1]:.0f}, after {r['sink_rates']['after'][0]:.0f}/{r['sink_rates']['after'][1]:.0f})"
        )
        first = r["first_email"]
        print(f"  first email after the commit: {first:.2f} s" if first is not None else "  no email arrived")
        for stage, at in r.get("first_email_stages", {}).items():
            print(f"    {stage}: {at:.2f} s" if at is not None else f"    {stage}: -")
        if r["reached"]:
            print(
                f"  all reached in {r['all_reached']:.1f} s = {r['rate']:.0f} emails/s = {r['ratio']:.2f} × the sink's "
                f"one-connection rate ({r['rate'] / each:.2f} × its per-message rate)"
            )
        else:
            print(f"  NOT all reached after {r['timed_out_after']:.0f} s")
        print(
            f"  duplicates at the receivers: {r['duplicates']}; bad signatures: {r['bad_signatures']}; "
            f"recorded: {r['recorded']}"
        )
        print(
            f"  database per subscriber delivery: {r['bytes_per_delivery']:.0f} bytes (fan-out tables), "
            f"{r['db_bytes_per_delivery']:.0f} bytes (whole database)"
        )
        print(
            f"  load average before {r['load']['before'][0]:.2f}, at the end {r['load']['during'][0]:.2f} "
            f"(2 cores, shared)"
        )
        at_scale = r["emails"] >= TARGET_SCALE
        checks = {  # name → (met, counted)
            f"all reached ≤ {TARGET_SECONDS} s": (bool(r["reached"] and r["all_reached"] <= TARGET_SECONDS), True),
            f"rate ≥ {TARGET_RATIO} × one-connection rate": (
                bool(r["reached"] and r["ratio"] >= TARGET_RATIO),
                at_scale,
            ),
            f"first email ≤ {TARGET_FIRST_EMAIL} s": (bool(first is not None and first <= TARGET_FIRST_EMAIL), True),
            f"≤ {TARGET_BYTES} bytes per delivery": (r["bytes_per_delivery"] <= TARGET_BYTES, at_scale),
            "exactly once, every delivery recorded sent": (r["duplicates"] == 0 and r["all_recorded_sent"], True),
        }
        for name, (met, counted) in checks.items():
            verdict = "MET" if met else "NOT MET"
            if not counted:
                verdict += f" (the issue sets it for {TARGET_SCALE:,} subscribers; shown for reference)"
            print(f"  target {name}: {verdict}")
            ok = ok and (met or not counted)
    print("OK" if ok else "NOT OK")
    return ok


def main() -> int:
    args = parse_args()
    smtp_port, http_port = free_port(), free_port()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=receivers, args=(child, smtp_port, http_port), daemon=True
    )
    process.start()
    assert parent.recv() == "ready"
    sys.path.insert(0, str(ROOT))
    args.secret_key = secrets.token_urlsafe(64)
    os.environ.update(
        environment(args.database_url, smtp_port, redis_url="", workers=args.workers, secret_key=args.secret_key)
    )
    recreate_database(args.database_url)
    import django

    django.setup()
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    results = []
    try:
        for broker in brokers:
            results.append(
                run_once(args, broker=broker, receivers_conn=parent, smtp_port=smtp_port, http_port=http_port)
            )
    finally:
        parent.send(("stop",))
        parent.recv()
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(args.database_url, drop_only=True)
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
