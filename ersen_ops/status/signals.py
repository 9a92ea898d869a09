"""Cache invalidation of the public status: bump the version in the same transaction as each change of a status
record (Component, StatusPost). The domain rows the public status is also made of (incidents, windows) are
watched by `statuspage.signals`, which sits above them.

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

from ersen_ops.status.services import status_version_bump

M2M_ACTIONS = {"post_add", "post_remove", "post_clear"}


def bump(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    status_version_bump()


def _bump_m2m(sender, action: str = "", **kwargs) -> None:
    if action in M2M_ACTIONS:
        status_version_bump()


def connect_bump(models, throughs=(), *, prefix: str = "status") -> None:
    """Bump the version on every save and delete of `models` and every change of the `throughs` (m2m) tables."""
    for model in models:
        post_save.connect(bump, sender=model, dispatch_uid=f"{prefix}_bump_save_{model._meta.label_lower}")
        post_delete.connect(bump, sender=model, dispatch_uid=f"{prefix}_bump_delete_{model._meta.label_lower}")
    for through in throughs:
        m2m_changed.connect(_bump_m2m, sender=through, dispatch_uid=f"{prefix}_bump_m2m_{through._meta.label_lower}")


def connect() -> None:
    from ersen_ops.status.models import Component, StatusPost

    connect_bump((Component, StatusPost))
