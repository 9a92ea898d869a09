#!/usr/bin/env python
"""Operations API: what the framework costs per call (token lookup, scope and role check, the database rate
counter, problem handling, the token in audit events), against the same work without it, in the same run.

    .venv/bin/python bench/api_overhead.py [--rounds 200] [--database-url URL] [--keep]

Its own PostgreSQL database (migrated; dropped afterwards unless --keep). In one process through Django's full
middleware stack (django.test.Client: no network, so only our code is measured). Per round, alternating:
- `stack`: `GET /healthz` through the same client: the portal's middleware stack and one query, for scale (not a
  baseline of a target);
- `baseline_read`: the components list's own work — the same queryset, serializer and cursor page — called directly;
- `api_read`: `GET /api/ops/v1/components` with a token (auth, last use, perms, rate counter UPDATE, page);
- `baseline_write`: `component_save` of a status change (the service: save + audit event) called directly;
- `api_write`: `POST /api/ops/v1/components/<id>/status` with a new Idempotency-Key each time (the service, plus the
  idempotency record in the same transaction).
Target: api_read ≤ 3 × baseline_read and api_write ≤ 2 × baseline_write (the framework stays a small constant:
a handful of indexed queries). Prints medians, p95 and the ratios; exit 0 when met, 1 otherwise.
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

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ersen_bench_api"
TARGETS = {"api_read": ("baseline_read", 3.0), "api_write": ("baseline_write", 2.0)}


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    ensure_database(args.database_url, fresh=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
        "OPS_API_RATE_LIMIT": "1000000",
        "ALLOWED_HOSTS": "testserver,localhost",
    }
    try:
        migrate(env)
        setup_django(env)
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.client import RequestFactory
        from rest_framework.request import Request

        from api import services as api_services
        from api.pagination import CursorPagination
        from api.views.components import ComponentListView, ComponentSerializer
        from ersen_ops.core import roles
        from ersen_ops.status import services as status_services
        from ersen_ops.status.models import Component

        roles.sync_roles()
        user = get_user_model().objects.create_user("bench", password="x", is_staff=True)
        user.groups.add(
            *__import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.filter(name=roles.OPERATORS)
        )
        for n in range(20):
            Component.objects.create(name=f"Component {n}", position=n)
        target = Component.objects.get(name="Component 0")
        _, raw = api_services.token_create(actor=user, name="bench", scopes=["read", "status"])
        client = Client()
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        factory = RequestFactory()
        statuses = ["major_outage", "operational"]

        def baseline_read(n):
            request = Request(factory.get("/api/ops/v1/components"))
            paginator = CursorPagination()
            paginator.ordering = ("position", "id")
            page = paginator.paginate_queryset(
                Component.objects.select_related("group").order_by("position", "id"), request, ComponentListView()
            )
            paginator.get_paginated_response(ComponentSerializer(page, many=True).data)

        def api_read(n):
            assert client.get("/api/ops/v1/components", **auth).status_code == 200

        def baseline_write(n):
            component = Component.objects.get(pk=target.pk)
            before = status_services.component_state(component)
            component.status = statuses[n % 2]
            status_services.component_save(actor=user, component=component, before=before)

        def api_write(n):
            response = client.post(
                f"/api/ops/v1/components/{target.public_id}/status",
                {"status": statuses[(n + 1) % 2]},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"bench-{n}",
                **auth,
            )
            assert response.status_code == 200, response.content

        def stack(n):
            assert client.get("/healthz").status_code == 200

        modes = {
            "stack": stack,
            "baseline_read": baseline_read,
            "api_read": api_read,
            "baseline_write": baseline_write,
            "api_write": api_write,
        }
        timings = {name: [] for name in modes}
        for n in range(args.rounds + 5):
            for name, run in modes.items():
                started = time.perf_counter()
                run(n)
                if n >= 5:  # warm-up rounds
                    timings[name].append(time.perf_counter() - started)
        print(f"{args.rounds} rounds, 20 components (PostgreSQL, one process, Django test client)")
        ok = True
        for name, values in timings.items():
            median = statistics.median(values)
            line = f"  {name:14} median {median * 1000:6.2f} ms   p95 {percentile(values, 0.95) * 1000:6.2f} ms"
            if name in TARGETS:
                base_name, target = TARGETS[name]
                ratio = median / statistics.median(timings[base_name])
                met = ratio <= target
                ok &= met
                line += f"   {ratio:4.1f} × {base_name} (target ≤ {target:.0f} ×: {'met' if met else 'MISSED'})"
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
