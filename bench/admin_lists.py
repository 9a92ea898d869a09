#!/usr/bin/env python
"""Admin lists at a million rows: the audit log and the deliveries, first page, a filter and a search, at 10,000 and
at 1,000,000 rows, against `/healthz` through the same client, in the same run.

    .venv/bin/python bench/admin_lists.py [--rows 1000000] [--small 10000] [--repeat 7] [--database-url URL] [--keep]

What it does: creates its own PostgreSQL database (`ersen_bench_lists`), migrates it, signs a superuser in (Django's
test client, second factor recorded as the tests do), then for each size fills both tables with generated rows
(copies of a real row made through the services, varied: 30 actions, 4 channels, 1 % failed deliveries, a numbered
incident in each target text; `INSERT … SELECT … FROM generate_series`), runs `ANALYZE` (as autovacuum would), and
times each page `--repeat` times (median, after one warm-up), through the whole Django stack: middleware, session,
admin, template. Prints the table, the ratio to `/healthz` and to the same page at the small size.

Pages deeper than the first: "halfway (keyset)" is the page after the middle row, by keyset (the admin's "Older ›"
link); "halfway (OFFSET)" the same depth by page number, as a stock admin pages, for reference.

Targets (issue 19): every page ≤ 150 ms at 1,000,000 rows and ≤ 3 × its time at 10,000. Exit 0 when all are met.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, django_env, drop_database, ensure_database, migrate, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_lists"
TARGET_MS = 150.0
TARGET_GROWTH = 3.0

PAGES = [
    ("audit log, first page", "/admin/audit/auditevent/"),
    ("audit log, filter action", "/admin/audit/auditevent/?action=incident.updated"),
    ("audit log, search", "/admin/audit/auditevent/?q=INC-{rare}"),
    ("deliveries, first page", "/admin/notifications/notificationdelivery/"),
    ("deliveries, filter failed", "/admin/notifications/notificationdelivery/?status__exact=failed"),
    ("deliveries, search", "/admin/notifications/notificationdelivery/?q=INC-{rare}"),
    ("audit log, halfway (keyset)", "/admin/audit/auditevent/?after={middle}"),
    ("deliveries, halfway (keyset)", "/admin/notifications/notificationdelivery/?after={middle}"),
]
# For reference, no target: the same depth by page number (OFFSET), what a stock admin does.
REFERENCE = [
    ("audit log, halfway (OFFSET)", "/admin/audit/auditevent/?p={page}"),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LISTS_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database at the end")
    return parser.parse_args()


def env_for(database_url: str) -> dict:
    return django_env(
        database_url,
        DEBUG="0",
        ALLOWED_HOSTS="testserver,127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        BEHIND_PROXY="0",
        PYTHONWARNINGS="ignore:No directory at",
    )


ACTIONS = [
    "incident.opened", "incident.updated", "incident.acknowledged", "incident.resolved", "maintenance.scheduled",
    "maintenance.started", "maintenance.completed", "checklist.approved", "runbook.execution_started",
    "runbook.execution_succeeded", "runbook.step_finished", "delivery.attempt", "delivery.sent", "subscriber.confirmed",
    "subscriber.fanout_batch", "component.status_changed", "login.succeeded", "login.failed", "task.ran",
    "audit.checkpoint", "status.post_published", "check.failed", "check.recovered", "host.pinned", "token.used",
    "window.eta_updated", "freeze.saved", "template.changed", "schedule.ran", "alert.received",
]  # fmt: skip


def fill(table: str, template_id: int, start: int, count: int, overrides: dict[str, str]) -> None:
    """Copy row `template_id` of `table` `count` times (g = start … start+count-1), columns in `overrides` computed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id' "
            "ORDER BY ordinal_position",
            [table],
        )
        columns = [row[0] for row in cursor.fetchall()]
        select = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} AS t, "
            f"generate_series(%s, %s) AS g WHERE t.id = %s",
            [start, start + count - 1, template_id],
        )
        cursor.execute(f"ANALYZE {table}")


def grow(to: int, have: int, templates: dict) -> None:
    from django.db import connection

    actions = "ARRAY[" + ", ".join(f"'{a}'" for a in ACTIONS) + "]"
    count = to - have
    if count <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_auditevent")
        seq0 = cursor.fetchone()[0]
    fill(
        "audit_auditevent",
        templates["event"],
        have + 1,
        count,
        {
            "created_at": f"now() - make_interval(secs => ({to} - g) * 2)",
            "actor_name": "CASE WHEN g %% 10 = 0 THEN 'operator' WHEN g %% 10 = 1 THEN 'approver' ELSE 'system:worker' END",
            "action": f"({actions})[1 + g %% {len(ACTIONS)}]",
            "target_repr": "'INC-' || g || ' Checkout latency on the API'",
            "target_id": "g::text",
            "request_id": "md5(g::text)",
            "seq": f"{seq0} - {have} + g",
            "prev_hash": "md5((g - 1)::text) || md5((g - 1)::text || 'x')",
            "hash": "md5(g::text) || md5(g::text || 'x')",
            "digest": "md5(g::text || 'd') || md5(g::text || 'e')",
        },
    )
    fill(
        "notifications_notificationdelivery",
        templates["delivery"],
        have + 1,
        count,
        {
            "created_at": f"now() - make_interval(secs => ({to} - g) * 2)",
            "channel": "(ARRAY['email', 'slack', 'webhook', 'discord'])[1 + g %% 4]",
            "status": "CASE WHEN g %% 100 = 0 THEN 'failed' ELSE 'sent' END",
            "subject": "'[Resolved] INC-' || g || ' Checkout latency on the API'",
            "related_id": "g::text",
            "dedup_key": "'inc-' || g",
        },
    )


def timed(client, url: str, repeat: int) -> float:
    response = client.get(url)  # warm-up (and a check)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    args = parse_args()
    env = env_for(args.database_url)
    ensure_database(args.database_url, fresh=True)
    migrate(env)
    # The admin's pages link hashed static files (production storage): collect them once.
    import subprocess

    subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup_django(env)
    sys.path.insert(0, str(ROOT))
    from django.contrib.auth import get_user_model

    from ersen_ops.audit.models import AuditEvent
    from ersen_ops.audit.services import record
    from ersen_ops.notifications.models import NotificationDelivery
    from tests.access import Client

    admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", secrets.token_urlsafe(16))
    client = Client()
    client.force_login(admin)
    record(actor="system:worker", action="incident.updated", data={"before": {"a": 1}, "after": {"a": 2}})
    templates = {
        "event": AuditEvent.objects.order_by("-id").values_list("id", flat=True).first(),
        "delivery": NotificationDelivery.objects.create(
            event="incident.updated", channel="email", target_name="subscriber", subject="template", status="sent"
        ).pk,
    }
    results: dict[int, dict[str, float]] = {}
    have = 1
    for size in (args.small, args.rows):
        began = time.perf_counter()
        grow(size, have, templates)
        have = size
        print(f"{size:,} audit events and deliveries in place ({time.perf_counter() - began:.0f} s)", flush=True)
        rare = size // 3
        row = {"healthz": timed(client, "/healthz", args.repeat)}
        middle = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() // 2
        page = size // 2 // 100
        for name, url in PAGES + REFERENCE:
            row[name] = timed(client, url.format(rare=rare, middle=middle, page=page), args.repeat)
        results[size] = row
    small, large = results[args.small], results[args.rows]
    print(f"\nmedian of {args.repeat} requests through Django's test client; load average {os.getloadavg()[0]:.1f}")
    print(f"{'page':<28}{f'{args.small:,} rows':>14}{f'{args.rows:,} rows':>16}{'growth':>9}{'vs /healthz':>13}  target")
    met = True
    for name, _ in [("healthz", "")] + PAGES + REFERENCE:
        growth = large[name] / small[name] if small[name] else float("inf")
        versus = large[name] / large["healthz"]
        judged = name != "healthz" and (name, _) not in REFERENCE
        ok = not judged or (large[name] <= TARGET_MS and growth <= TARGET_GROWTH)
        met &= ok
        verdict = ("met" if ok else "MISSED") if judged else ("(reference)" if name != "healthz" else "")
        print(f"{name:<28}{small[name]:>11.1f} ms{large[name]:>13.1f} ms{growth:>8.2f}×{versus:>12.0f}×  {verdict}")
    print(
        f"target: every page ≤ {TARGET_MS:.0f} ms at {args.rows:,} rows and ≤ {TARGET_GROWTH:.0f} × its time at "
        f"{args.small:,}: {'met' if met else 'NOT met'}"
    )
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)
    return 0 if met else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
