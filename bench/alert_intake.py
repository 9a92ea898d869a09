#!/usr/bin/env python
"""Alert intake: the cost of receiving a notification (the service that the webhook calls), against the least any
intake must do — store the alerts and write one audit event — measured in the same run.

    .venv/bin/python bench/alert_intake.py [--rounds 30] [--alerts 20] [--database-url URL] [--keep]

Its own PostgreSQL database (migrated; dropped afterwards unless --keep). One integration, one rule on a component.
Per round, alternating so the machine's load hits all alike:
- `baseline`: one transaction: bulk INSERT of the notification's alerts as ReceivedAlert rows + one audit record();
- `repeat`: `alerts_receive` of a notification whose N alerts are already firing in the group (an outage's steady
  state: Alertmanager re-sends every group_interval): match rules, look up the group, suppression check, record;
- `join`: `alerts_receive` of N new alerts joining the open incident (components/level unchanged).
Prints the median and p95 of each and the ratios. Target: repeat ≤ 3 × baseline and join ≤ 4 × baseline (the work
beyond storing the alerts stays a small constant, not a cost per alert). Exit 0 when met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import drop_database, ensure_database, migrate, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_alerts"
TARGETS = {"repeat": 3.0, "join": 4.0}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def payload(prefix: str, count: int, group_key: str) -> dict:
    return {
        "version": "4",
        "groupKey": group_key,
        "status": "firing",
        "receiver": "bench",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "api", "instance": f"{prefix}-{n}"},
                "annotations": {"summary": "Error rate above 5%"},
                "startsAt": "2027-01-13T20:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"{prefix}-{n}",
            }
            for n in range(count)
        ],
    }


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    args = parse_args()
    ensure_database(args.database_url, fresh=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
    }
    try:
        migrate(env)
        setup_django(env)
        from django.db import transaction
        from django.utils import timezone

        from alerting import payloads, services
        from alerting.models import AlertRule, ReceivedAlert
        from ersen_ops.audit.services import record
        from ersen_ops.status.models import Component

        integration, _ = services.integration_create(actor="system:bench", name="bench", source="alertmanager")
        api = Component.objects.create(name="API")
        rule = AlertRule.objects.create(name="API", matchers={"service": "api"}, level="P3", impact="partial_outage")
        rule.components.set([api])
        group_key = '{}:{alertname="HighErrorRate"}'
        steady = payload("steady", args.alerts, group_key)
        services.alerts_receive(integration=integration, source="alertmanager", payload=steady)  # opens the incident

        def baseline(n):
            facts = payloads.parse("alertmanager", payload(f"base{n}", args.alerts, group_key))
            now = timezone.now()
            with transaction.atomic():
                ReceivedAlert.objects.bulk_create(
                    ReceivedAlert(
                        integration=integration,
                        received_at=now,
                        notification_id=f"b{n}",
                        group_key=facts.group_key,
                        fingerprint=a.fingerprint,
                        status=a.status,
                        alertname=a.alertname,
                        labels=a.labels,
                        annotations=a.annotations,
                        outcome="repeated",
                    )
                    for a in facts.alerts
                )
                record(actor="system:bench", action="bench.alerts_stored", target=integration, data={"n": n})

        def repeat(n):
            services.alerts_receive(integration=integration, source="alertmanager", payload=steady)

        def join(n):
            services.alerts_receive(
                integration=integration, source="alertmanager", payload=payload(f"join{n}", args.alerts, group_key)
            )

        modes = {"baseline": baseline, "repeat": repeat, "join": join}
        timings = {name: [] for name in modes}
        for n in range(args.rounds + 2):
            for name, run in modes.items():
                started = time.perf_counter()
                run(n)
                if n >= 2:  # two warm-up rounds
                    timings[name].append(time.perf_counter() - started)
        base = statistics.median(timings["baseline"])
        print(f"{args.rounds} rounds, {args.alerts} alerts per notification (PostgreSQL, one process)")
        ok = True
        for name, values in timings.items():
            median = statistics.median(values)
            line = f"  {name:9} median {median * 1000:7.1f} ms   p95 {percentile(values, 0.95) * 1000:7.1f} ms"
            if name in TARGETS:
                ratio = median / base
                met = ratio <= TARGETS[name]
                ok &= met
                line += f"   {ratio:4.1f} × baseline (target ≤ {TARGETS[name]:.0f} ×: {'met' if met else 'MISSED'})"
            print(line)
        print("target met" if ok else "target MISSED")
        return 0 if ok else 1
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    sys.exit(main())
