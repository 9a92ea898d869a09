"""django-q entry points: ids in, call the runner or a service. Nothing else."""

from __future__ import annotations

from django.dispatch import receiver
from django_q.signals import pre_execute

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again
from runbooks import services

_current_task = {"id": ""}


@receiver(pre_execute, dispatch_uid="runbooks.remember_task_id")
def remember_task_id(sender, func=None, task=None, **kwargs):
    # A worker process runs one task at a time: remember its id for the execution record.
    # Never raise here (an exception in pre_execute kills the worker).
    try:
        _current_task["id"] = str((task or {}).get("id", ""))[:64]
    except Exception:  # noqa: BLE001  # pragma: no cover
        _current_task["id"] = ""


def run_execution(execution_id: int) -> str:
    from runbooks.runner import run_execution as run

    return run(execution_id, task_id=_current_task["id"])


@db_retry
def reap_lost_executions() -> int:
    reaped = len(services.executions_reap_lost())
    services.group_runs_advance()  # a run on a host group must not stall on a lost worker or a lost kick
    return reaped


@db_retry
def start_waiting_executions() -> int:
    return len(services.executions_start_waiting())
