"""Public status: the Statuspage v2 API, the status page, incident/maintenance pages, feeds, calendar.

No login, GET/HEAD only (OPTIONS answered, anything else 405), never a mutation. Every document
is served through `caching.serve`: one version check per request, cached bytes, ETag,
Last-Modified, Cache-Control and 304s.
"""

from __future__ import annotations

import zoneinfo
from collections import OrderedDict
from datetime import datetime, time, timedelta
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from ersen_ops.status.choices import COMPONENT_STATUS_COLOURS
from ersen_ops.status.selectors import load_components
from statuspage import caching, feeds, ical, selectors, serializers, uptime
from statuspage.snapshot import page_url

JSON = "application/json"
HTML = "text/html; charset=utf-8"
ALLOWED = "GET, HEAD, OPTIONS"


# --- methods ---------------------------------------------------------------------------------------------


def _method_not_allowed(request, *, json: bool) -> HttpResponse:
    message = f"{request.method} is not allowed here; use GET or HEAD."
    if json:
        response = JsonResponse({"error": "method_not_allowed", "message": message}, status=405)
    else:
        response = HttpResponse(message, status=405, content_type="text/plain; charset=utf-8")
    response["Allow"] = ALLOWED
    return response


def public(json: bool):
    """GET and HEAD served, OPTIONS answered (CORS preflights never get here: the CORS middleware
    answers them), anything else 405. CSRF-exempt so a POST gets its 405, not a CSRF 403."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            if request.method == "OPTIONS":
                response = HttpResponse(status=200)
                response["Allow"] = ALLOWED
                response["Content-Length"] = "0"
                return response
            return _method_not_allowed(request, json=json)

        return wrapper

    return decorator


# --- the Statuspage v2 API ---------------------------------------------------------------------------


def _summary(version_time: datetime):
    return selectors.summary_snapshot(fallback_updated_at=version_time)


def _api(request, name: str, document):
    return caching.serve(
        request,
        key=f"api:{name}",
        build=lambda version_time, _bucket: serializers.to_bytes(document(_summary(version_time))),
        content_type=JSON,
    )


@public(json=True)
def api_summary(request):
    return _api(request, "summary", serializers.summary_document)


@public(json=True)
def api_status(request):
    return _api(request, "status", serializers.status_document)


@public(json=True)
def api_components(request):
    return _api(request, "components", serializers.components_document)


@public(json=True)
def api_incidents(request):
    return _api(
        request,
        "incidents",
        lambda snap: serializers.incidents_document(snap, selectors.recent_incidents(snap.components)),
    )


@public(json=True)
def api_incidents_unresolved(request):
    return _api(request, "incidents/unresolved", lambda snap: serializers.incidents_document(snap, snap.incidents))


@public(json=True)
def api_maintenances(request):
    return _api(
        request,
        "scheduled-maintenances",
        lambda snap: serializers.maintenances_document(snap, selectors.recent_maintenances(snap.components)),
    )


@public(json=True)
def api_maintenances_upcoming(request):
    return _api(
        request,
        "scheduled-maintenances/upcoming",
        lambda snap: serializers.maintenances_document(snap, [m for m in snap.maintenances if m.status == "scheduled"]),
    )


@public(json=True)
def api_maintenances_active(request):
    return _api(
        request,
        "scheduled-maintenances/active",
        lambda snap: serializers.maintenances_document(
            snap, [m for m in snap.maintenances if m.status in ("in_progress", "verifying")]
        ),
    )


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Anything else under /api/v2/: a JSON 404 (a 405 first for methods we never serve)."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return _method_not_allowed(request, json=True)
    return JsonResponse(
        {
            "error": "not_found",
            "message": f"No such endpoint: {request.path}. See {page_url()}/api/v2/summary.json.",
        },
        status=404,
    )


def bench_trivial(request):
    """Benchmark baseline only (OPS_BENCH_TRIVIAL_VIEW=1): the cheapest JSON view Django can serve."""
    return JsonResponse({"status": "ok"})


# --- the public page ----------------------------------------------------------------------------------


def page_zone():
    return zoneinfo.ZoneInfo(settings.OPS_STATUS_PAGE_TIME_ZONE)


def _today_bucket():
    """(today in the page's zone, its midnight): documents that depend on the date change once a day."""
    today = timezone.localtime(timezone.now(), page_zone()).date()
    return today, datetime.combine(today, time.min, tzinfo=page_zone())


UPTIME_SLOT_MINUTES = 5  # today's uptime figures on the page and in uptime.json are at most this old


def _uptime_bucket():
    """((today, 5-minute slot), slot start): the page and uptime.json also show today's uptime "so far"."""
    now = timezone.now()
    today = timezone.localtime(now, page_zone()).date()
    slot_start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % UPTIME_SLOT_MINUTES)
    return (today, slot_start), slot_start


def _uptime_now(version_time: datetime, slot_start: datetime) -> datetime:
    """The moment today's figures run to: the slot's start, or the last public change if later (so a change
    shows in its bar at once). Both are shared state, so every process renders the same bytes."""
    return max(slot_start, version_time)


def _day_of(moment: datetime):
    return timezone.localtime(moment, page_zone()).date()


def _history_days(history: selectors.History, today) -> list[dict]:
    days: OrderedDict = OrderedDict((today - timedelta(days=n), []) for n in range(selectors.HISTORY_DAYS))
    for event in [*history.incidents, *history.maintenances]:
        day = _day_of(event.sort_time)
        if day > today and event.resolved_at is not None:
            day = _day_of(event.resolved_at)  # a future window cancelled: listed on the day it was cancelled
        if day in days:
            days[day].append(event)
    return [
        {"day": day, "events": sorted(events, key=lambda e: e.sort_time, reverse=True)} for day, events in days.items()
    ]


def _common_context() -> dict:
    url = page_url()
    return {
        "page_name": settings.OPS_STATUS_PAGE_NAME,
        "page_url": url,
        "colours": {str(k): v for k, v in COMPONENT_STATUS_COLOURS.items()},
        "feeds": {
            "atom": f"{url}/history.atom",
            "rss": f"{url}/history.rss",
            "ics": f"{url}/maintenance.ics",
            "json": f"{url}/api/v2/summary.json",
        },
        "maintenance_tz": settings.OPS_MAINTENANCE_TZ,
    }


def _render_page(version_time: datetime, bucket) -> bytes:
    today, slot_start = bucket
    snap = _summary(version_time)
    since = datetime.combine(today - timedelta(days=selectors.HISTORY_DAYS - 1), time.min, tzinfo=page_zone())
    history = selectors.history(snap.components, since=since)
    by_id = {c.id: c for c in snap.components}
    top = [c for c in snap.components if c.group_id is None]
    visible = [
        {"component": c, "children": [by_id[k] for k in c.children if k in by_id and _shown(by_id[k])]}
        for c in top
        if _shown(c)
    ]
    context = {
        **_common_context(),
        "snapshot": snap,
        "components": visible,
        "incidents": snap.incidents,
        "in_progress": [m for m in snap.maintenances if m.status in ("in_progress", "verifying")],
        "upcoming": [m for m in snap.maintenances if m.status == "scheduled"],
        "history": _history_days(history, today),
        "history_days": selectors.HISTORY_DAYS,
        "updated_at": snap.updated_at,
        # The bars of the components the list shows (in its order; groups show through their children).
        "uptime": uptime.uptime_history(
            [k for item in visible for k in ([item["component"]] + item["children"])],
            now=_uptime_now(version_time, slot_start),
        ),
        "uptime_days": uptime.policy.HISTORY_DAYS,
        "uptime_zone": page_zone().key,
    }
    return render_to_string("status/page.html", context).encode()


def _shown(component) -> bool:
    return not component.only_show_if_degraded or component.status != "operational"


@public(json=False)
def status_page(request):
    return caching.serve(request, key="page", build=_render_page, content_type=HTML, bucket=_uptime_bucket)


@public(json=True)
def api_uptime(request):
    """`/api/uptime.json`: the page's uptime history as JSON (our own document, beside the Statuspage v2 API)."""

    def build(version_time, bucket):
        _today, slot_start = bucket
        components = load_components()
        history = uptime.uptime_history(components, now=_uptime_now(version_time, slot_start))
        page = serializers.page(version_time)
        return serializers.to_bytes(
            uptime.uptime_document(history, now=_uptime_now(version_time, slot_start), page=page)
        )

    return caching.serve(request, key="api:uptime", build=build, content_type=JSON, bucket=_uptime_bucket)


def _not_public(request):
    return HttpResponse(
        render_to_string("status/not_found.html", _common_context(), request=None), status=404, content_type=HTML
    )


@public(json=False)
def event_page(request, public_id: str):
    def build(version_time, _bucket):
        event, components = selectors.event_by_public_id(public_id)
        if event is None:
            return None
        context = {**_common_context(), "event": event}
        return render_to_string("status/event.html", context).encode()

    return caching.serve(
        request, key=f"event:{public_id}", build=build, content_type=HTML, not_found=lambda: _not_public(request)
    )


# --- feeds and calendar -----------------------------------------------------------------------------------


@public(json=False)
def history_atom(request):
    return _feed(request, "atom", feeds.HistoryAtomFeed, "application/atom+xml; charset=utf-8")


@public(json=False)
def history_rss(request):
    return _feed(request, "rss", feeds.HistoryRssFeed, "application/rss+xml; charset=utf-8")


def _feed(request, name: str, feed_class, content_type: str):
    def build(version_time, _bucket):
        return feed_class(fallback=version_time)(request).content

    return caching.serve(request, key=f"feed:{name}", build=build, content_type=content_type)


@public(json=False)
def maintenance_calendar(request):
    def build(_version_time, today):
        midnight = datetime.combine(today, time.min, tzinfo=page_zone())
        return ical.calendar_bytes(now=midnight)

    return caching.serve(
        request, key="calendar", build=build, content_type="text/calendar; charset=utf-8", bucket=_today_bucket
    )
