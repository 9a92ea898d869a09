#!/usr/bin/env python
"""Fan-out benchmark: one public incident update reaching 5,000 email subscribers and 20 webhooks.

    .venv/bin/python bench/subscriber_fanout.py [--subscribers 5000] [--webhooks 20] [--keep]

What it does:
1. creates its own PostgreSQL database (`ersen_bench_subscribers` on 127.0.0.1:5432, user postgres;
   `--database-url` to change), migrates it, bulk-creates N confirmed subscribers (70 % of everything,
   30 % of "API") and the webhooks; a real SMTP server (aiosmtpd) and a real HTTP receiver listen on
   loopback, so every email and payload really goes over a socket;
2. replaces django-q's `async_task` with a recorder, so every task the code queues is run here, one at
   a time, and timed on its own (what a worker would spend on it, without broker latency);
3. baseline, same run: one `notify()` with a single delivery (median of 20), the unit every other app
   pays to tell anyone anything; and one ordinary email delivery task (median of 20);
4. the request: an operator POSTs "Post update" (public) on an incident in the admin (Django test
   client, the full middleware and admin stack), timed; then every queued task is drained: the
   status-page delivery, the notice, the chunks (OPS_SUBSCRIBER_FANOUT_CHUNK recipients each), one
   send per recipient, and the component-status check;
5. prints the longest request and the longest task of each kind, their ratios to the baseline, and
   checks that every subscriber got exactly one email and every webhook one signed payload.

Exit status 0 when the request stays under 50 × baseline and no single task takes longer than 5 s.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_subscribers"
TASK_LIMIT_SECONDS = 5.0
REQUEST_LIMIT_RATIO = 50


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--webhooks", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database at the end")
    parser.add_argument("--profile", action="store_true", help="profile one subscriber email task (cProfile, top 25)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- receivers --------------------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self):
        self.recipients = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.recipients.extend(envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued"


class HookReceiver(BaseHTTPRequestHandler):
    secrets: dict[str, str] = {}
    received: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        secret = self.secrets.get(self.path, "")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, self.headers.get("X-Ersen-Signature", ""))
        with self.lock:
            self.received.append((self.path, verified, list(json.loads(body))))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


# --- database and Django ---------------------------------------------------------------------------------------------


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def environment(database_url: str, smtp_port: int) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
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
        }
    )
    return env


# --- the task recorder ------------------------------------------------------------------------------------------------


class Queue:
    """Stands in for django-q: remembers each queued task; `drain()` runs them one by one and times each."""

    def __init__(self):
        self.pending = deque()
        self.durations = defaultdict(list)

    def async_task(self, func, *args, **kwargs):
        self.pending.append((func, args))
        return f"bench-{len(self.pending)}"

    profile_next_send = False

    def drain(self) -> None:
        from django.utils.module_loading import import_string

        while self.pending:
            func, args = self.pending.popleft()
            if self.profile_next_send and func.endswith("send_delivery") and len(self.durations[func]) == 100:
                import cProfile
                import pstats

                self.profile_next_send = False
                profiler = cProfile.Profile()
                profiler.runcall(import_string(func), *args)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                continue
            started = time.perf_counter()
            import_string(func)(*args)
            self.durations[func].append(time.perf_counter() - started)


def main() -> int:
    args = parse_args()
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), HookReceiver)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()

    print(f"database {args.database_url.rsplit('/', 1)[1]}: recreating and migrating …", flush=True)
    recreate_database(args.database_url)
    env = environment(args.database_url, smtp_port)
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # The admin page renders {% static %}: no collectstatic here, so plain storage instead of the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from ersen_ops.core import queue as core_queue
    from ersen_ops.notifications.choices import Channel, DeliveryStatus, SubscriberChannel
    from ersen_ops.notifications.models import NotificationDelivery
    from ersen_ops.notifications.services import notify
    from ersen_ops.status.models import Component
    from incidents.choices import Impact, Level
    from incidents.services import incident_open
    from subscribers.choices import SubscriberStatus
    from subscribers.fanout import component_changes_detect
    from subscribers.models import Notice, Subscriber, WebhookSubscriber
    from subscribers.services import new_webhook_secret

    tasks = Queue()
    tasks.profile_next_send = args.profile
    core_queue.async_task = tasks.async_task  # enqueue_on_commit now records instead of queueing

    # --- data -------------------------------------------------------------------------------------------------
    started = time.perf_counter()
    api = Component.objects.create(name="API", position=1)
    Component.objects.create(name="Dashboard", position=2)
    now = timezone.now()
    Subscriber.objects.bulk_create(
        Subscriber(email=f"reader{n}@example.com", status=SubscriberStatus.CONFIRMED, confirmed_at=now)
        for n in range(args.subscribers)
    )
    through = Subscriber.components.through
    ids = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))
    through.objects.bulk_create(through(subscriber_id=pk, component_id=api.pk) for pk in ids[: len(ids) * 3 // 10])
    for n in range(args.webhooks):
        path = f"/hooks/{n}"
        webhook = WebhookSubscriber.objects.create(
            name=f"Partner {n}", url=f"http://127.0.0.1:{hooks.server_port}{path}", secret=new_webhook_secret()
        )
        HookReceiver.secrets[path] = webhook.secret
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    component_changes_detect()  # the baseline of component statuses
    with transaction.atomic():
        incident = incident_open(
            actor=user, title="Elevated API errors", level=Level.P3, components={api: Impact.PARTIAL_OUTAGE}
        )
    tasks.drain()
    tasks.durations.clear()
    print(
        f"seeded {args.subscribers} confirmed subscribers ({len(ids) * 3 // 10} of API only, the rest of everything), "
        f"{args.webhooks} webhooks in {time.perf_counter() - started:.1f} s"
    )

    # --- baseline ----------------------------------------------------------------------------------------------
    notify_times, send_times = [], []
    for n in range(20):
        t0 = time.perf_counter()
        with transaction.atomic():
            (delivery,) = notify(
                event="bench.baseline",
                channels=[Channel.EMAIL],
                subject=f"Baseline {n}",
                body="One delivery.",
                extra_recipients=["ops@example.com"],
            )
        notify_times.append(time.perf_counter() - t0)
        tasks.pending.clear()
        t0 = time.perf_counter()
        from ersen_ops.notifications.tasks import send_delivery

        send_delivery(delivery.pk)
        send_times.append(time.perf_counter() - t0)
    baseline = statistics.median(notify_times)
    send_baseline = statistics.median(send_times)
    mailbox.recipients.clear()

    # --- the request ------------------------------------------------------------------------------------------
    client = Client()
    client.force_login(user)
    url = f"/admin/incidents/incident/{incident.pk}/do/post_update/"
    client.get(url)  # warm up templates and the admin
    t0 = time.perf_counter()
    response = client.post(url, {"status": "identified", "body": "A bad deploy; rolling back.", "public": "on"})
    request_seconds = time.perf_counter() - t0
    assert response.status_code == 302, response.status_code
    queued_by_request = len(tasks.pending)

    # --- the fan-out -------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    tasks.drain()
    drained = time.perf_counter() - t0

    # --- results -----------------------------------------------------------------------------------------------
    notice = Notice.objects.get(event="incident.identified")
    emails = NotificationDelivery.objects.filter(
        channel=SubscriberChannel.SUBSCRIBER_EMAIL, subscriber_message__notice=notice
    )
    hooks_sent = NotificationDelivery.objects.filter(
        channel=SubscriberChannel.SUBSCRIBER_WEBHOOK, subscriber_message__notice=notice
    )
    sent = emails.filter(status=DeliveryStatus.SENT).count()
    unique_recipients = len(set(mailbox.recipients))
    incident_payloads = [r for r in HookReceiver.received if r[2] == ["meta", "page", "incident"]]
    print()
    print(f"baseline: one notify() with a single delivery      median {baseline * 1000:8.1f} ms (20 runs)")
    print(f"          one email delivery task (SMTP)           median {send_baseline * 1000:8.1f} ms (20 runs)")
    print(
        f"request:  admin POST 'Post update' (public)              {request_seconds * 1000:8.1f} ms  "
        f"= {request_seconds / baseline:.1f} × baseline  ({queued_by_request} task queued)"
    )
    print("tasks (each run on its own, as a worker would):")
    longest = 0.0
    for func, times in sorted(tasks.durations.items(), key=lambda item: -max(item[1])):
        longest = max(longest, max(times))
        print(
            f"  {func.rsplit('.', 1)[-1]:<28} ×{len(times):<5} longest {max(times) * 1000:8.1f} ms "
            f"= {max(times) / baseline:6.1f} × baseline   median {statistics.median(times) * 1000:7.1f} ms"
        )
    print(f"longest single task: {longest * 1000:.1f} ms = {longest / baseline:.1f} × baseline")
    print(
        f"notice {notice.public_id}: {notice.email_recipients} email + {notice.webhook_recipients} webhook recipients, "
        f"{notice.chunks_total} chunks, status {notice.status}"
    )
    print(
        f"emails: {sent}/{emails.count()} deliveries sent, {unique_recipients} distinct addresses received mail; "
        f"webhooks: {hooks_sent.filter(status=DeliveryStatus.SENT).count()}/{hooks_sent.count()} sent, "
        f"{len(incident_payloads)} incident payloads, all signatures verified: "
        f"{all(r[1] for r in HookReceiver.received)}"
    )
    print(f"all tasks together (one process, serial): {drained:.1f} s")

    ok = (
        sent == args.subscribers
        and unique_recipients == args.subscribers
        and len(incident_payloads) == args.webhooks
        and all(r[1] for r in HookReceiver.received)
        and longest < TASK_LIMIT_SECONDS
        and request_seconds < REQUEST_LIMIT_RATIO * baseline
    )
    print("OK" if ok else "NOT OK")
    smtp.stop()
    hooks.shutdown()
    if not args.keep:
        from django.db import connections

        connections.close_all()
        recreate_database(args.database_url, drop_only=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
