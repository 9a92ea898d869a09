"""What maintenance tells the status about its components (registered in `MaintenanceConfig.ready()`)."""

from __future__ import annotations

from django.db.models import Max

from ersen_ops.status.sources import ComponentSource
from maintenance.choices import WindowStatus
from maintenance.models import MaintenanceWindow


def _window_components():
    return MaintenanceWindow.components.through.objects


def in_progress():
    """(component pk, actual start) of every window in progress: its components are under maintenance (1 query)."""
    return (
        _window_components()
        .filter(maintenancewindow__status=WindowStatus.IN_PROGRESS)
        .values_list("component_id", "maintenancewindow__actual_start")
    )


def last_ended():
    """(component pk, when a window on it last ended) (1 query)."""
    return (
        _window_components()
        .filter(maintenancewindow__actual_end__isnull=False)
        .order_by()
        .values("component_id")
        .annotate(last=Max("maintenancewindow__actual_end"))
        .values_list("component_id", "last")
    )


SOURCE = ComponentSource(name="maintenance", maintenance=in_progress, last_changes=last_ended)
