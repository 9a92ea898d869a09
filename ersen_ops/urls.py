"""URL map. Public endpoints: health, and (status app) the status page and API; everything else needs a login."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from controlroom.views import control_room_view
from ersen_ops.core import views as core_views
from ersen_ops.core.admin_lists import adapt_queue_admins
from ersen_ops.core.sso import admin as sso_admin

admin.site.site_header = "Ersen Ops"
admin.site.site_title = "Ersen Ops"
admin.site.index_title = "Control room"
admin.site.enable_nav_sidebar = False  # wide lists and the control room need the width; breadcrumbs lead back
# The admin's own login page would skip allauth (rate limits, second factor): it redirects there, `next` kept.
admin.site.login = secure_admin_login(admin.site.login)
sso_admin.adjust(admin.site)  # SSO links read-only; no provider apps or tokens in the database
adapt_queue_admins(admin.site)  # django-q's task lists stay fast however many rows (estimated counts)

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("favicon.ico", core_views.favicon, name="favicon"),  # browsers ask for it at the root
    path("admin/", control_room_view, name="control-room"),  # the admin index, with the dashboard
    path("admin/", admin.site.urls),
    # Login, logout, the operator's account page, second factor and sessions (allauth, in the admin's look)
    path("accounts/", include("ersen_ops.core.access.urls")),
    # Operations API for CI and tools (personal access tokens; schema /api/ops/v1/schema/, docs /api/ops/v1/docs/)
    path("api/ops/v1/", include("api.urls")),
    # Public subscriptions (no login; signed links): /subscribe, /subscriptions/confirm|manage|unsubscribe/<token>
    path("", include("subscribers.urls")),
    # Heartbeats of health checks (no login; the secret URL is the credential): /checks/heartbeat/<id>/<secret>/
    path("", include("checks.urls")),
    # Public status (no login): /, /status/, /api/v2/…, /incidents/<id>, /history.atom|rss, /maintenance.ics
    path("", include("statuspage.urls")),
]

handler404 = "ersen_ops.core.views.not_found"
handler403 = "ersen_ops.core.views.permission_denied"
handler500 = "ersen_ops.core.views.server_error"
