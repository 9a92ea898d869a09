#!/usr/bin/env python
"""Runbook fleet: a run on a 20-host group in batches of 1, 5 and 20, vs Fabric's ThreadingGroup directly.

    .venv/bin/python bench/runbook_fleet.py [--hosts 20] [--batches 1,5,20] [--workers 20] [--repeat 1]
                                            [--database-url postgres://postgres@127.0.0.1:5432/ersen_bench_fleet]

What it does:
1. starts N sandbox hosts (OpenSSH sshd on free 127.0.0.1 ports with the shims, runbooks/sandbox/), all
   authorising one client key, and a fresh PostgreSQL database (migrated);
2. registers N Host rows (keys pinned through the real "Fetch and pin" service, positions 1..N) in a host group by
   role tag, and a one-step runbook "Unlock the encrypted volume" with its compose folder shared by every host, so
   the exact command lines are the same on every host (what ThreadingGroup needs). A warm-up group run leaves every
   volume "open", so each measured run takes the same read-only path: `sudo cryptsetup status`, `mountpoint -q`
   (two recorded decisions: skip) and `docker compose … up -d` (a no-op report in the sandbox) — 3 commands;
3. starts `manage.py qcluster` with Q_WORKERS workers (default 20: a batch of 20 needs 20 workers to run at once);
4. for each batch size: our path — `services.group_run_launch()` (what "Run on a host group" calls) → batches
   queued one after the other → each host's execution claimed, connected with its pinned key, commands recorded
   → the run finished; wall time from the run's own timestamps (requested → finished). The baseline in the same
   run: Fabric's ThreadingGroup over the same hosts in the same batches (one group per batch, one after the other),
   connecting and running the same 3 command lines;
5. prints per batch size: our wall, Fabric's wall, the ratio, the per-host overhead ((ours − Fabric) / hosts) and
   where our time goes (median queue wait of a batch's first host, handoff between batches, connect, commands).

There is no target in the issue beyond reporting; exit status 0 when every run succeeded (1 otherwise).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import (  # noqa: E402
    PYTHON,
    ROOT,
    django_env,
    drop_database,
    ensure_database,
    migrate,
    setup_django,
    stop_process_group,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--batches", default="1,5,20")
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per batch size (median shown)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ersen_bench_fleet")
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args()


def start_sandboxes(root: Path, count: int):
    from runbooks.sandbox import Sandbox

    boxes = []
    first = Sandbox(root / "host-0").prepare().start()
    boxes.append(first)
    for i in range(1, count):
        folder = root / f"host-{i}"
        folder.mkdir(parents=True)
        shutil.copy(first.client_key, folder / first.client_key.name)
        shutil.copy(f"{first.client_key}.pub", folder / f"{first.client_key.name}.pub")
        boxes.append(Sandbox(folder).prepare().start())
    return boxes


def start_worker(env: dict, log_path: Path):
    from ersen_ops.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.all().delete()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not WorkerHeartbeat.objects.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"qcluster did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    time.sleep(3.0)  # let every worker process finish starting (20 Django processes on a small machine)
    return proc, log


def stop_worker(proc, log) -> None:
    stop_process_group(proc)
    log.close()


def main() -> int:
    args = parse_args()
    batch_sizes = [int(b) for b in args.batches.split(",") if b.strip()]
    ensure_database(args.database_url, fresh=True)
    with tempfile.TemporaryDirectory(prefix="ersen-bench-fleet-") as tmp:
        tmp = Path(tmp)
        boxes = start_sandboxes(tmp / "sandboxes", args.hosts)
        env = django_env(
            args.database_url,
            OPS_PHASE="prelaunch",
            OPS_SSH_KEY_FILE=str(boxes[0].client_key),
            Q_WORKERS=str(args.workers),
            REDIS_URL="",
            PYTHONUNBUFFERED="1",
        )
        worker = None
        try:
            migrate(env)
            setup_django(env)
            worker = start_worker(env, tmp / "qcluster.log")
            return measure(args, batch_sizes, boxes, tmp)
        finally:
            if worker is not None:
                stop_worker(*worker)
            for box in boxes:
                box.stop()
            if not args.keep_database:
                from django.db import connections

                connections.close_all()
                drop_database(args.database_url)


def measure(args, batch_sizes, boxes, tmp: Path) -> int:
    from fabric import ThreadingGroup

    from runbooks import remote, services
    from runbooks.choices import GROUP_RUN_FINAL_STATUSES, ExecutionStatus, GroupRunStatus, StepKind
    from runbooks.models import ExecutionStep, GroupRun, Host, HostGroup, Runbook

    actor = "system:bench"
    compose = tmp / "compose"
    compose.mkdir()
    for name in ("docker-compose.prod.yml", "docker-compose.encrypted.yml"):
        (compose / name).write_text("services: {}\n")
    for i, box in enumerate(boxes):
        host = Host(
            name=f"fleet-{i:02d}",
            hostname="127.0.0.1",
            port=box.port,
            ssh_user=box.user,
            roles="fleet",
            position=i + 1,
        )
        services.host_save(actor=actor, host=host)
        key = box.host_key()
        services.host_pin_key(
            actor=actor, host=host, confirmed_fingerprint=remote.fingerprint_of(key.key_type, key.key_base64)
        )
    group = services.host_group_save(
        actor=actor, group=HostGroup(name="Bench fleet", slug="bench-fleet", role="fleet"), hosts=[]
    )
    runbook = services.runbook_save(
        actor=actor,
        runbook=Runbook(name="Bench fleet unlock", slug="bench-fleet-unlock"),
        steps=[{"task": "unlock_encrypted_volume", "params": {"compose_dir": str(compose)}}],
    )

    def group_run(batch_size: int) -> GroupRun:
        started = time.perf_counter()
        run = services.group_run_launch(
            actor=actor, runbook=runbook, host_group=group, batch_size=batch_size, max_failures=1
        )
        run.launch_seconds = time.perf_counter() - started  # checking 20 hosts, saving 20 executions, audit
        deadline = time.monotonic() + 600
        while True:
            run.refresh_from_db()
            if run.status in GROUP_RUN_FINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"group run #{run.pk} did not finish: {run.status}")
            time.sleep(0.05)
        if run.status != GroupRunStatus.SUCCEEDED:
            failed = run.executions.exclude(status=ExecutionStatus.SUCCEEDED).values_list("error", flat=True)[:3]
            raise SystemExit(f"group run #{run.pk} {run.status}: {run.outcome} {list(failed)}")
        return run

    warm = group_run(len(boxes))  # opens every "volume": later runs take the same read-only path
    first_warm = warm.executions.order_by("pk").first()
    commands = list(
        ExecutionStep.objects.filter(execution=first_warm, kind=StepKind.COMMAND)
        .order_by("order")
        .values_list("command", flat=True)
    )
    # Fabric runs the bare command lines; ours wrap them in `timeout … sh -c '…' marker` (unique per run): use the
    # same wrapping so both sides run the same programs.
    probe = group_run(len(boxes))
    sample = list(
        ExecutionStep.objects.filter(execution=probe.executions.order_by("pk").first(), kind=StepKind.COMMAND)
        .order_by("order")
        .values_list("command", flat=True)
    )
    print(f"{len(boxes)} sandbox hosts, qcluster with Q_WORKERS={args.workers}, {len(sample)} commands per host:")
    for command in sample:
        print(f"  {command}")
    del commands

    hosts = [f"{b.user}@127.0.0.1:{b.port}" for b in boxes]
    connect_kwargs = {"key_filename": [str(boxes[0].client_key)], "look_for_keys": False, "allow_agent": False}

    def fabric(batch_size: int) -> float:
        started = time.perf_counter()
        for i in range(0, len(hosts), batch_size):
            group_ = ThreadingGroup(*hosts[i : i + batch_size], connect_kwargs=connect_kwargs, connect_timeout=10)
            for command in sample:
                results = group_.run(command, hide=True, warn=True)
                bad = [str(c.host) for c, r in results.items() if r.exited != 0]
                if bad:
                    raise SystemExit(f"Fabric: {command!r} failed on {bad}")
            group_.close()
        return time.perf_counter() - started

    def breakdown(run: GroupRun) -> dict:
        executions = list(run.executions.order_by("batch", "pk"))
        steps = list(ExecutionStep.objects.filter(execution__group_run=run))
        connect = [s.duration.total_seconds() for s in steps if s.kind == StepKind.CONNECT and s.finished_at]
        command = [s.duration.total_seconds() for s in steps if s.kind == StepKind.COMMAND and s.finished_at]
        handoffs, first_waits = [], []
        by_batch: dict[int, list] = {}
        for e in executions:
            by_batch.setdefault(e.batch, []).append(e)
        for batch, members in sorted(by_batch.items()):
            if batch > 1:
                previous_end = max(e.finished_at for e in by_batch[batch - 1])
                handoffs.append((min(e.started_at for e in members) - previous_end).total_seconds())
        first_waits.append((min(e.started_at for e in by_batch[1]) - run.requested_at).total_seconds())
        return {
            "launch": run.launch_seconds,
            "first_start": first_waits[0],
            "handoff": statistics.median(handoffs) if handoffs else 0.0,
            "handoffs": len(handoffs),
            "connect": statistics.median(connect),
            "commands": statistics.median(command) * len(sample),
            "run_seconds": statistics.median((e.finished_at - e.started_at).total_seconds() for e in executions),
        }

    rows = []
    for batch_size in batch_sizes:
        ours, theirs, details = [], [], []
        for _ in range(args.repeat):
            theirs.append(fabric(batch_size))
            run = group_run(batch_size)
            ours.append((run.finished_at - run.requested_at).total_seconds())
            details.append(breakdown(run))
        wall, base = statistics.median(ours), statistics.median(theirs)
        detail = details[len(details) // 2]
        rows.append((batch_size, wall, base, detail))

    n = len(boxes)
    print()
    print(
        f"{'batch':>5} {'batches':>7} {'ours s':>8} {'Fabric s':>9} {'ratio':>6} {'overhead/host s':>16}   where our time goes"
    )
    for batch_size, wall, base, d in rows:
        batches = -(-n // batch_size)
        print(
            f"{batch_size:>5} {batches:>7} {wall:>8.2f} {base:>9.2f} {wall / base:>5.1f}x {(wall - base) / n:>16.3f}   "
            f"launch call {d['launch']:.2f} s, first host started {d['first_start']:.2f} s after launch; {d['handoffs']} batch handoffs of "
            f"{d['handoff']:.2f} s (median); per host run {d['run_seconds']:.2f} s = connect {d['connect']:.2f} s + "
            f"commands {d['commands']:.2f} s + recording {d['run_seconds'] - d['connect'] - d['commands']:.2f} s"
        )
    print(
        "\nOverhead per host = (our wall − Fabric's wall) / hosts; Fabric's wall covers the same connects and "
        "commands in the same batches. No target in the issue: reported only."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
