#!/usr/bin/env python
"""Runbook overhead: launch → first remote command, and total per-execution overhead, vs Fabric directly.

    .venv/bin/python bench/runbook_overhead.py [--runs 20] [--brokers orm,redis]
                                               [--redis-url redis://127.0.0.1:6379/12] [--database-url URL]

What it does:
1. starts its own sandbox host (OpenSSH sshd on a free 127.0.0.1 port with the shims, runbooks/sandbox/)
   and its own database (a fresh SQLite file in a temporary folder, migrated; or --database-url);
2. for each broker (the database = django-q2's ORM broker; Redis with REDIS_URL), in a child process
   with that configuration: starts `manage.py qcluster` (2 workers), creates and pins a host, runs one
   warm-up execution of "Unlock encrypted volume" (which leaves the volume "open", so every measured run
   takes the same path: 3 remote commands and 2 recorded decisions), then alternates N times:
   - our path: `services.execution_launch()` (what the admin's Run button calls) → queue → worker claims,
     connects with the pinned key, runs the commands wrapped in `timeout`, records every step, output
     and audit event, finishes; timings from the execution's own timestamps;
   - the baseline, in the same process and run: Fabric directly — `Connection(...)`, `run()` of the same
     exact command lines, `close()`;
3. prints median and p95 of: launch → first remote command (vs Fabric's connect), total (vs Fabric's
   total), and the overhead (ours − Fabric), with the ratio; stops the worker and sshd.

Exit status 0 when the median overhead is under 0.5 s with every broker, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._common import stop_process_group  # noqa: E402

TARGET_SECONDS = 0.5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one broker's measurements
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def child_env(database_url: str, redis_url: str, key_file: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ersen_ops.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        OPS_PHASE="prelaunch",
        OPS_SSH_KEY_FILE=key_file,
        Q_WORKERS="2",
        LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    return env


def pct(values, q):
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- child: one broker ----------------------------------------------------------------------------------


def run_child(args) -> None:
    import django

    django.setup()
    from django.utils import timezone
    from fabric import Connection

    from ersen_ops.core.models import WorkerHeartbeat
    from runbooks import remote, services
    from runbooks.choices import FINAL_STATUSES, ExecutionStatus, StepKind
    from runbooks.models import Host, Runbook, RunbookExecution
    from runbooks.sandbox import Sandbox

    box = Sandbox(args.sandbox, port=args.port)  # already prepared and started by the parent
    if os.environ.get("REDIS_URL"):
        from django_q.brokers import get_broker

        get_broker().purge_queue()
    WorkerHeartbeat.objects.all().delete()
    log = open(Path(args.sandbox) / f"qcluster-{args.child}.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not WorkerHeartbeat.objects.exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"qcluster did not start: see {log.name}")
            time.sleep(0.1)
        time.sleep(1.0)  # let every worker process finish starting

        host = Host.objects.filter(name="bench").first() or Host(name="bench")
        host.hostname, host.port, host.ssh_user = "127.0.0.1", box.port, box.user
        host.parameter_defaults = box.parameter_defaults()
        services.host_save(actor="system:bench", host=host)
        key = box.host_key()
        host = services.host_pin_key(
            actor="system:bench", host=host, confirmed_fingerprint=remote.fingerprint_of(key.key_type, key.key_base64)
        )
        runbook = Runbook.objects.filter(slug="bench-unlock").first() or Runbook(
            slug="bench-unlock", name="Bench unlock"
        )
        services.runbook_save(actor="system:bench", runbook=runbook, steps=[{"task": "unlock_encrypted_volume"}])

        def launch_and_wait():
            execution = services.execution_launch(actor="system:bench", runbook=runbook, host=host)
            end = time.monotonic() + 120
            while True:
                execution.refresh_from_db()
                if execution.status in FINAL_STATUSES:
                    break
                if time.monotonic() > end:
                    raise SystemExit(f"execution #{execution.pk} did not finish: {execution.status}")
                time.sleep(0.02)
            if execution.status != ExecutionStatus.SUCCEEDED:
                raise SystemExit(f"execution #{execution.pk} {execution.status}: {execution.error}")
            return execution

        warm = launch_and_wait()
        commands = list(warm.steps.filter(kind=StepKind.COMMAND).order_by("order").values_list("command", flat=True))

        def fabric_direct():
            started = time.perf_counter()
            conn = Connection(
                "127.0.0.1",
                user=box.user,
                port=box.port,
                connect_timeout=10,
                connect_kwargs={"key_filename": [str(box.client_key)], "look_for_keys": False, "allow_agent": False},
            )
            conn.open()
            connected = time.perf_counter()
            for command in commands:
                conn.run(command, hide=True, warn=True)
            conn.close()
            return connected - started, time.perf_counter() - started

        rows = []
        for _ in range(args.runs):
            connect, fabric_total = fabric_direct()
            execution = launch_and_wait()
            first = execution.steps.filter(kind=StepKind.COMMAND).order_by("order").first()
            rows.append(
                {
                    "first_command": (first.started_at - execution.requested_at).total_seconds(),
                    "fabric_connect": connect,
                    "total": (execution.finished_at - execution.requested_at).total_seconds(),
                    "fabric_total": fabric_total,
                    "queued": (execution.started_at - execution.requested_at).total_seconds(),
                    "commands": execution.steps.filter(kind=StepKind.COMMAND).count(),
                }
            )
        print(
            json.dumps(
                {
                    "broker": args.child,
                    "rows": rows,
                    "commands": commands,
                    "executions": RunbookExecution.objects.count(),
                    "at": timezone.now().isoformat(),
                }
            )
        )
    finally:
        stop_process_group(worker, timeout=20)
        log.close()


# --- parent: sandbox, database, one child per broker, the table --------------------------------------------


def main() -> int:
    args = parse_args()
    if args.child:
        run_child(args)
        return 0
    from runbooks.sandbox import Sandbox

    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    with tempfile.TemporaryDirectory(prefix="ersen-bench-runbooks-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        box = Sandbox(Path(tmp) / "sandbox").prepare().start()
        try:
            base_env = child_env(database_url, "", str(box.client_key))
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=base_env, check=True
            )
            results = []
            for broker in brokers:
                env = child_env(database_url, args.redis_url if broker == "redis" else "", str(box.client_key))
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        broker,
                        "--sandbox",
                        str(box.root),
                        "--port",
                        str(box.port),
                        "--runs",
                        str(args.runs),
                    ],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                )
                if out.returncode != 0:
                    print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
                    return 1
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            box.stop()

    print(
        f"Runbook overhead vs Fabric directly, {args.runs} executions per broker "
        f"(runbook: unlock_encrypted_volume, {results[0]['rows'][0]['commands']} remote commands, same commands "
        "in both paths; sandbox sshd on 127.0.0.1)"
    )
    print(f"database: {'SQLite file (fresh)' if not args.database_url else database_url.split('@')[-1]}")
    header = f"{'broker':8} {'metric':34} {'median':>9} {'p95':>9}"
    print(header)
    print("-" * len(header))
    ok = True
    for result in results:
        rows = result["rows"]
        series = {
            "launch → first remote command": [r["first_command"] for r in rows],
            "  Fabric: connect (baseline)": [r["fabric_connect"] for r in rows],
            "  overhead to first command": [r["first_command"] - r["fabric_connect"] for r in rows],
            "  of which queued (launch → claim)": [r["queued"] for r in rows],
            "total per execution": [r["total"] for r in rows],
            "  Fabric: connect + run + close": [r["fabric_total"] for r in rows],
            "overhead (ours − Fabric)": [r["total"] - r["fabric_total"] for r in rows],
        }
        for name, values in series.items():
            print(f"{result['broker']:8} {name:34} {statistics.median(values):8.3f}s {pct(values, 95):8.3f}s")
        ratio = statistics.median(series["total per execution"]) / statistics.median(
            series["  Fabric: connect + run + close"]
        )
        overhead = statistics.median(series["overhead (ours − Fabric)"])
        verdict = "OK" if overhead < TARGET_SECONDS else "OVER TARGET"
        print(
            f"{result['broker']:8} {'ratio total / Fabric total':34} {ratio:8.2f}×   "
            f"median overhead {overhead * 1000:.0f} ms (target < {TARGET_SECONDS * 1000:.0f} ms): {verdict}"
        )
        ok = ok and overhead < TARGET_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
