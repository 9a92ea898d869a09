"""django-q2 helpers: enqueue after commit, and a delivery counter that gives up on tasks whose worker keeps dying.

django-q2's ORM broker redelivers a task whose worker died (SIGKILL, OOM) after
`retry` seconds, forever: attempts are only counted when a result is saved.
`pre_execute` counts deliveries per task id; at OPS_TASK_MAX_DELIVERIES the
queue entry is removed so this delivery is the last one, and the fact is audited.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django_q.signals import post_spawn, pre_execute
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def enqueue_on_commit(func: str, *args, **kwargs) -> None:
    """Queue `func` (a dotted path) once the current transaction commits; nothing if it rolls back."""

    def _send():
        async_task(func, *args, **kwargs)

    transaction.on_commit(_send)


@receiver(pre_execute, dispatch_uid="ersen_ops.core.count_delivery")
def count_delivery(sender, func=None, task=None, **kwargs):
    # Never raise here: an exception in pre_execute kills the worker process.
    try:
        _count_delivery(task or {})
    except Exception:  # pragma: no cover - defensive
        logger.exception("could not count the delivery of a task")


def _count_delivery(task: dict) -> None:
    from ersen_ops.core.models import TaskDelivery

    task_id = task.get("id")
    if not task_id or task.get("sync"):
        return
    func_name = str(task.get("func", ""))[:200]
    with transaction.atomic():
        delivery, created = TaskDelivery.objects.select_for_update().get_or_create(
            task_id=task_id, defaults={"func": func_name, "deliveries": 1}
        )
        if not created:
            delivery.deliveries += 1
            delivery.last_delivered_at = timezone.now()
            delivery.save(update_fields=["deliveries", "last_delivered_at"])
    limit = settings.OPS_TASK_MAX_DELIVERIES
    if delivery.deliveries >= limit and task.get("ack_id"):
        _remove_from_queue(task["ack_id"])
        from ersen_ops.audit.services import record

        record(
            actor="system:task-queue",
            action="task.redelivery_limit",
            data={
                "task_id": task_id,
                "func": func_name,
                "deliveries": delivery.deliveries,
                "limit": limit,
                "note": "removed from the queue: this delivery is the last one",
            },
        )


def _remove_from_queue(ack_id) -> None:
    from django_q.brokers import get_broker

    try:
        get_broker().acknowledge(ack_id)
    except Exception:  # pragma: no cover - broker without acknowledgement
        logger.warning("could not remove task %s from the queue", ack_id)


@receiver(post_spawn, dispatch_uid="ersen_ops.core.heartbeat_on_spawn")
def heartbeat_on_spawn(sender, proc_name=None, **kwargs):
    try:
        from ersen_ops.core.services import worker_heartbeat

        worker_heartbeat(name=str(proc_name or "worker"))
    except Exception:  # pragma: no cover - the DB may be unreachable at spawn
        logger.warning("could not record a worker heartbeat")
