"""Cache invalidation for the domain rows the public documents are made of (see `ersen_ops.status.signals`).

Incidents, their updates and impacts, and windows (with their components) bump the status version in the
same transaction as each change; a saved window also refreshes its calendar SEQUENCE (what its VEVENT shows).
This lives here, above the domain apps, so that status imports none of them.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from ersen_ops.status.services import calendar_sequence_sync, status_version_bump
from ersen_ops.status.signals import bump, connect_bump
from statuspage.snapshot import calendar_fields


def _window_saved(sender, instance, raw=False, **kwargs) -> None:
    if raw:
        return
    status_version_bump()
    fields = calendar_fields(instance)
    if fields is not None:
        calendar_sequence_sync(window_public_id=instance.public_id, fields=fields)


def connect() -> None:
    from incidents.models import Incident, IncidentComponent, IncidentUpdate
    from maintenance.models import MaintenanceWindow

    connect_bump(
        (Incident, IncidentComponent, IncidentUpdate),
        (MaintenanceWindow.components.through, Incident.components.through),
    )
    post_save.connect(_window_saved, sender=MaintenanceWindow, dispatch_uid="status_window_saved")
    post_delete.connect(bump, sender=MaintenanceWindow, dispatch_uid="status_bump_delete_maintenance.maintenancewindow")
