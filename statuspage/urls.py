"""Public routes at the site root: the Statuspage v2 API (no trailing slash), the page, feeds, calendar."""

from django.conf import settings
from django.urls import path, re_path

from statuspage import views

app_name = "status"

urlpatterns = [
    path("api/v2/summary.json", views.api_summary, name="api-summary"),
    path("api/v2/status.json", views.api_status, name="api-status"),
    path("api/v2/components.json", views.api_components, name="api-components"),
    path("api/v2/incidents.json", views.api_incidents, name="api-incidents"),
    path("api/v2/incidents/unresolved.json", views.api_incidents_unresolved, name="api-incidents-unresolved"),
    path("api/v2/scheduled-maintenances.json", views.api_maintenances, name="api-maintenances"),
    path(
        "api/v2/scheduled-maintenances/upcoming.json",
        views.api_maintenances_upcoming,
        name="api-maintenances-upcoming",
    ),
    path("api/v2/scheduled-maintenances/active.json", views.api_maintenances_active, name="api-maintenances-active"),
    # Our own (not Statuspage's): the 90-day uptime history of the page.
    path("api/uptime.json", views.api_uptime, name="api-uptime"),
    re_path(r"^api/v2(?:/.*)?$", views.api_not_found, name="api-not-found"),
    path("", views.status_page, name="page"),
    path("status/", views.status_page, name="page-alias"),
    re_path(r"^incidents/(?P<public_id>(?:inc|mnt)_[0-9a-z]{1,16})$", views.event_page, name="event"),
    path("history.atom", views.history_atom, name="history-atom"),
    path("history.rss", views.history_rss, name="history-rss"),
    path("maintenance.ics", views.maintenance_calendar, name="calendar"),
]

if settings.OPS_BENCH_TRIVIAL_VIEW:  # bench/status_load.py only; refused by settings unless loopback-only
    urlpatterns.append(path("bench/trivial.json", views.bench_trivial, name="bench-trivial"))
