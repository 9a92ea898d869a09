"""Waiting runs: queue the run task, and start the next waiting run of a host when it is free."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ersen_ops.core.kit import now_or
from ersen_ops.core.queue import enqueue_on_commit
from runbooks import selectors
from runbooks.choices import (
    ExecutionStatus,
)
from runbooks.models import RunbookExecution
from runbooks.services.common import RUN_TASK


def _enqueue(execution: RunbookExecution, now: datetime) -> None:
    """Queue the run task after commit (a duplicate is harmless: only one claim can win)."""
    RunbookExecution.objects.filter(pk=execution.pk).update(enqueued_at=now)
    enqueue_on_commit(RUN_TASK, execution.pk, group="runbooks", task_name=f"runbook-execution-{execution.pk}"[:100])


def _kick_host_on_commit(host_id: int) -> None:
    transaction.on_commit(lambda: host_start_next(host_id=host_id))


def host_start_next(*, host_id: int, now: datetime | None = None, min_gap_seconds: int = 0) -> int | None:
    """Queue the task of the oldest waiting execution of a free host. Returns its id, if any."""
    now = now_or(now)
    with transaction.atomic():
        if selectors.execution_running_on(host_id=host_id):
            return None
        nxt = selectors.executions_waiting(host_id=host_id).first()
        if nxt is None:
            return None
        if min_gap_seconds and nxt.enqueued_at and (now - nxt.enqueued_at).total_seconds() < min_gap_seconds:
            return None
        _enqueue(nxt, now)
    return nxt.pk


def executions_start_waiting(*, now: datetime | None = None) -> list[int]:
    """Safety net: a free host with queued runs gets its oldest one queued again (a lost task, a lost kick)."""
    now = now_or(now)
    host_ids = (
        RunbookExecution.objects.filter(status=ExecutionStatus.QUEUED).values_list("host_id", flat=True).distinct()
    )
    started = []
    for host_id in list(host_ids):
        pk = host_start_next(host_id=host_id, now=now, min_gap_seconds=20)
        if pk:
            started.append(pk)
    return started
