"""The maintenance calendar page in the admin: a month in Pacific time, windows coloured by type, freezes shaded.

GET only, reads only; needs `maintenance.view_maintenancewindow`. Two queries whatever the number of
windows (windows of the shown weeks, freezes of the shown weeks).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from maintenance import calendar as cal
from maintenance import policy
from maintenance.choices import STATUS_COLOURS, TYPE_COLOURS, MaintenanceType, WindowStatus
from maintenance.models import FreezePeriod, MaintenanceWindow
from maintenance.policy import maintenance_zone

VIEW_PERMISSION = "maintenance.view_maintenancewindow"


def calendar_rows(*, start, end) -> tuple[list[cal.Row], list[cal.Row]]:
    """Windows and freezes touching [start, end) (two queries). A window's bar spans its planned time,
    or its actual start to its actual end / current ETA once it has started."""
    windows = []
    touching = (
        Q(planned_start__lt=end, planned_end__gt=start)
        | Q(actual_start__lt=end, actual_end__gt=start)
        | Q(status=WindowStatus.IN_PROGRESS, actual_start__lt=end)
    )
    fields = ("id", "title", "type", "status", "planned_start", "planned_end", "actual_start", "actual_end", "eta")
    for w in MaintenanceWindow.objects.filter(touching).only(*fields).order_by("planned_start", "id"):
        begin = w.actual_start or w.planned_start
        finish = w.actual_end or (w.eta if w.status == WindowStatus.IN_PROGRESS and w.eta else None) or w.planned_end
        url = reverse("admin:maintenance_maintenancewindow_change", args=[w.pk])
        windows.append(
            cal.Row(
                pk=w.pk,
                title=w.title,
                kind=w.type,
                status=w.status,
                start=begin,
                end=max(finish, begin),
                url=url,
                status_label=w.get_status_display(),
            )
        )
    freezes = [
        cal.Row(
            pk=f.pk,
            title=f.name,
            kind="freeze",
            status="",
            start=f.start,
            end=f.end,
            url=reverse("admin:maintenance_freezeperiod_change", args=[f.pk]),
        )
        for f in FreezePeriod.objects.filter(start__lt=end, end__gt=start)
    ]
    return windows, freezes


def calendar_view(model_admin):
    def view(request):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("The calendar only shows windows.")
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied("Your role does not include viewing maintenance windows.")
        zone = maintenance_zone()
        today = timezone.localtime(timezone.now(), zone).date()
        year, month = cal.parse_month(request.GET.get("month"), today)
        start, end = cal.grid_bounds(year, month, zone)
        windows, freezes = calendar_rows(start=start, end=end)
        weeks = cal.month_grid(year, month, zone=zone, windows=windows, freezes=freezes, today=today)
        base = reverse("admin:maintenance_maintenancewindow_calendar")
        prev_y, prev_m = cal.shift_month(year, month, -1)
        next_y, next_m = cal.shift_month(year, month, 1)
        month_start, _ = cal.month_bounds(year, month, zone)
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": f"Maintenance calendar — {month_start:%B %Y}",
            "month_label": f"{month_start:%B %Y}",
            "zone_name": str(zone),
            "weeks": weeks,
            "weekday_names": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "routine_rule": policy.routine_rule_text(),
            "routine_slot_label": policy.routine_slot_label(),
            "prev_url": f"{base}?month={prev_y}-{prev_m:02d}",
            "next_url": f"{base}?month={next_y}-{next_m:02d}",
            "today_url": base,
            "types": [(t.value, t.label, TYPE_COLOURS[t]) for t in MaintenanceType],
            "status_colours": STATUS_COLOURS,
            "statuses": [(s.value, s.label) for s in WindowStatus],
            "can_add": model_admin.has_add_permission(request),
            "add_url": reverse("admin:maintenance_maintenancewindow_add"),
            "list_url": reverse("admin:maintenance_maintenancewindow_changelist"),
        }
        return TemplateResponse(request, "admin/maintenance/maintenancewindow/calendar.html", context)

    return view
