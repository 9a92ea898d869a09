"""Queue helpers: enqueue only after commit; give up on a task whose worker keeps dying; schedules applied idempotently."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule
from django_q.signals import pre_execute
from django_q.signing import SignedPackage

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.models import TaskDelivery
from ersen_ops.core.queue import enqueue_on_commit
from ersen_ops.core.scheduling import PREFIX, apply_schedules, declared


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_queues_nothing_when_the_transaction_rolls_back():
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with transaction.atomic():
            enqueue_on_commit("ersen_ops.core.tasks.heartbeat")
            raise Boom
    assert OrmQ.objects.count() == 0
    with transaction.atomic():
        enqueue_on_commit("ersen_ops.core.tasks.heartbeat")
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_a_task_delivered_too_often_is_removed_from_the_queue_and_audited(settings):
    settings.OPS_TASK_MAX_DELIVERIES = 3
    broker = get_broker()
    broker.enqueue(SignedPackage.dumps({"id": "t-1", "func": "x.y"}))
    ack_id = OrmQ.objects.get().pk
    task = {"id": "t-1", "func": "runbooks.tasks.run_execution", "ack_id": ack_id}
    for _ in range(2):
        pre_execute.send(sender="django_q", func=None, task=dict(task))
    assert OrmQ.objects.count() == 1, "still below the limit: stays queued for redelivery"
    pre_execute.send(sender="django_q", func=None, task=dict(task))
    assert TaskDelivery.objects.get(task_id="t-1").deliveries == 3
    assert OrmQ.objects.count() == 0
    event = AuditEvent.objects.get(action="task.redelivery_limit")
    assert event.data["deliveries"] == 3 and event.data["func"] == "runbooks.tasks.run_execution"


@pytest.mark.django_db
def test_apply_schedules_is_idempotent_and_removes_undeclared_ones():
    Schedule.objects.create(name=PREFIX + "gone", func="x.y", schedule_type=Schedule.MINUTES, minutes=5)
    first = apply_schedules()
    assert first["deleted"] == 1
    second = apply_schedules()
    assert second == {"created": 0, "updated": 0, "deleted": 0, "unchanged": len(declared())}
    assert set(Schedule.objects.values_list("name", flat=True)) >= {PREFIX + s.name for s in declared()}
