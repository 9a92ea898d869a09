"""Cache invalidation of the public status: bump the version in the same transaction as each change.

Why receivers here (and not business logic in signals, which the conventions forbid): this is
cache bookkeeping owned by the status app, and it must see every write path to the rows the
public status is made of — services, the admin, shell fixes — without the other apps having
to remember to call us. What receivers cannot see, and how it is covered:

- `QuerySet.update()` / `bulk_create()` send no per-row signal. The incidents services
  bulk-create `IncidentComponent` rows only in transactions that also save the `Incident`
  (open, set components), which bumps. Anything else writing these tables in bulk must call
  `ersen_ops.status.services.status_version_bump()` itself.
- Fixture loading (`raw=True`) is ignored.
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from ersen_ops.status.services import calendar_sequence_sync, status_version_bump
from statuspage.snapshot import calendar_fields

M2M_ACTIONS = {"post_add", "post_remove", "post_clear"}


def _bump(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    status_version_bump()


def _bump_m2m(sender, action: str = "", **kwargs) -> None:
    if action in M2M_ACTIONS:
        status_version_bump()


def _window_saved(sender, instance, raw=False, **kwargs) -> None:
    if raw:
        return
    status_version_bump()
    fields = calendar_fields(instance)
    if fields is not None:
        calendar_sequence_sync(window_public_id=instance.public_id, fields=fields)


def connect() -> None:
    from ersen_ops.status.models import Component, StatusPost
    from incidents.models import Incident, IncidentComponent, IncidentUpdate
    from maintenance.models import MaintenanceWindow

    for model in (Component, Incident, IncidentComponent, IncidentUpdate, StatusPost):
        post_save.connect(_bump, sender=model, dispatch_uid=f"status_bump_save_{model._meta.label_lower}")
    for model in (Component, MaintenanceWindow, Incident, IncidentComponent, IncidentUpdate, StatusPost):
        post_delete.connect(_bump, sender=model, dispatch_uid=f"status_bump_delete_{model._meta.label_lower}")
    post_save.connect(_window_saved, sender=MaintenanceWindow, dispatch_uid="status_window_saved")
    for through in (MaintenanceWindow.components.through, Incident.components.through):
        m2m_changed.connect(_bump_m2m, sender=through, dispatch_uid=f"status_bump_m2m_{through._meta.label_lower}")
