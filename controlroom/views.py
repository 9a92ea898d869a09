"""The control room (the admin index with the dashboard above the app list): the top layer, wired by ersen_ops/urls.py."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from controlroom.dashboard import dashboard

AUDIT_PARAM, WITH_SYSTEM = "audit", "all"  # ?audit=all: system events in "Last 20 audit events" too


def control_room(request):
    """The admin index, with what is happening right now above the app list (reads only)."""
    board = dashboard(
        user=request.user, now=timezone.now(), audit_with_system=request.GET.get(AUDIT_PARAM) == WITH_SYSTEM
    )
    return admin.site.index(request, extra_context={"dashboard": board})


control_room_view = admin.site.admin_view(control_room)
