"""The hooks that start a fan-out. Receivers only queue a task after commit; the work is in `fanout.py`.

Why receivers (the conventions keep business logic out of signals): the triggers are writes owned by
other apps, and every path must be seen — services, the admin, a shell fix — without those apps
knowing that subscribers exist.

- A `StatusPost` is created when the notifications app publishes a maintenance or incident message
  on the status page: everything public passes there, so subscribers hear exactly what the page says.
  → task `subscribers.tasks.notice_from_status_post(post_id)`.
- A component's public status is derived (manual status in the admin, impacts of unresolved incidents,
  windows in progress). There is no single event for it, so any save of a row it is derived from
  queues a check that compares the derived statuses with what subscribers were last told
  (`fanout.component_changes_detect`); a one-minute schedule catches bulk writes no signal sees.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from ersen_ops.core.queue import enqueue_on_commit

NOTICE_TASK = "subscribers.tasks.notice_from_status_post"
DETECT_TASK = "subscribers.tasks.detect_component_changes"


def _status_post_created(sender, instance, created=False, raw=False, **kwargs) -> None:
    if created and not raw:
        enqueue_on_commit(NOTICE_TASK, instance.pk)


def _status_inputs_changed(sender, raw=False, **kwargs) -> None:
    if not raw:
        enqueue_on_commit(DETECT_TASK)


def connect() -> None:
    from ersen_ops.status.models import Component, StatusPost
    from incidents.models import Incident, IncidentComponent
    from maintenance.models import MaintenanceWindow

    post_save.connect(_status_post_created, sender=StatusPost, dispatch_uid="subscribers_status_post_created")
    for model in (Component, Incident, IncidentComponent, MaintenanceWindow):
        label = model._meta.label_lower
        post_save.connect(_status_inputs_changed, sender=model, dispatch_uid=f"subscribers_detect_save_{label}")
    post_delete.connect(
        _status_inputs_changed, sender=IncidentComponent, dispatch_uid="subscribers_detect_delete_incidentcomponent"
    )
