"""Health endpoints and friendly error pages."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

HEARTBEAT_MAX_AGE = timedelta(minutes=3)


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    checks: dict[str, str] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        return JsonResponse({"status": "unavailable", "checks": {"database": "unreachable"}}, status=503)

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    checks["migrations"] = "ok" if not pending else f"{len(pending)} unapplied"
    ok &= not pending

    from ersen_ops.core.models import WorkerHeartbeat

    last = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    if last is None:
        checks["worker"] = "no heartbeat seen"
        ok = False
    else:
        age = (timezone.now() - last).total_seconds()
        fresh = age <= HEARTBEAT_MAX_AGE.total_seconds()
        checks["worker"] = "ok" if fresh else f"last heartbeat {int(age)} s ago"
        ok &= fresh
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def _error(request, status: int, title: str, message: str):
    return render(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": message},
        status=status,
    )


def not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing at this address. Check the link, or go back to the control room.")


def permission_denied(request, exception=None):
    return _error(request, 403, "Not allowed", "Your role does not allow this action. Ask an administrator if you need it.")

