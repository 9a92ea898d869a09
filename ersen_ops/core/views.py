"""Health endpoints and friendly error pages."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.staticfiles import finders
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import cache_control, never_cache
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


FAVICON = "ops/favicon.ico"


@cache_control(public=True, max_age=86400)
@require_safe
def favicon(request):
    """/favicon.ico, which browsers and feed readers ask for whatever the pages link (they link the static one)."""
    with open(finders.find(FAVICON), "rb") as icon:
        return HttpResponse(icon.read(), content_type="image/x-icon")


# --- friendly error pages -------------------------------------------------------------------------------------
#
# Inside the admin's look, never a traceback. 403 and 404 may read the session (to say who you are and
# where to go back to); the 500 page must render even when the database is down, so it is rendered
# without the request (no context processors, no session, no query) and falls back to plain HTML.

SERVER_ERROR_FALLBACK = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error | Ersen Ops</title></head>'
    '<body style="font-family:sans-serif;margin:40px"><h1>500 — Something went wrong</h1>'
    "<p>The error was logged{request_id}. If you were changing something, check its audit history before "
    "trying again: every change is either recorded there in full or not made at all.</p>"
    '<p><a href="/admin/">Back to the control room</a></p></body></html>'
)


def _home(request) -> tuple[str, str]:
    """Where "back" goes: the control room for staff and admin addresses, else the public status page."""
    user = getattr(request, "user", None)
    if request.path.startswith("/admin/") or (user is not None and user.is_authenticated and user.is_staff):
        return "/admin/", "Back to the control room"
    return "/", "See the current status"


def _roles(request) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    names = sorted(user.groups.values_list("name", flat=True))
    if user.is_superuser:
        names.insert(0, "superuser")
    return f"You are signed in as {user.get_username()} ({', '.join(names) or 'no role'})."


def _error(request, status: int, title: str, message: str, *, detail: str = "", hints=()):
    home_url, home_label = _home(request)
    return render(
        request,
        "errors/error.html",
        {
            "status": status,
            "title": title,
            "message": message,
            "detail": detail,
            "hints": hints,
            "home_url": home_url,
            "home_label": home_label,
            "request_id": getattr(request, "request_id", ""),
        },
        status=status,
    )


def not_found(request, exception=None):
    return _error(
        request,
        404,
        "Not found",
        "There is nothing at this address.",
        detail=request.path,
        hints=(
            "The record may have been renamed, or the link copied incompletely.",
            "Records are never deleted here: windows are cancelled and incidents resolved, so search the list.",
        ),
    )


def permission_denied(request, exception=None):
    reason = str(exception or "").strip()
    return _error(
        request,
        403,
        "Not allowed",
        reason or "Your role does not allow this.",
        detail=_roles(request),
        hints=(
            "Each action needs its own permission: staff status alone grants nothing.",
            "If you need it, ask an administrator to add you to the right role (Operators, Approvers, "
            "Incident commanders).",
        ),
    )


def server_error(request):
    """500: no traceback, no database, no session. Django has already logged the exception."""
    request_id = getattr(request, "request_id", "")
    try:
        body = render_to_string("500.html", {"request_id": request_id})
    except Exception:  # even the template failed (e.g. static files missing): plain HTML
        body = SERVER_ERROR_FALLBACK.format(request_id=f" (request id {request_id})" if request_id else "")
    return HttpResponseServerError(body)
