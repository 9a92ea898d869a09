"""Demo data: the nightly verified backup of the sandbox host at 03:00, created once and audited; its first tick
(the sandbox key is not pinned in the demo) is a skipped occurrence with the runbooks service's words."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from ersen_ops.audit.models import AuditEvent
from scheduler import demo, services
from scheduler.choices import Event, Outcome
from scheduler.models import Schedule

pytestmark = pytest.mark.django_db


def test_seed_schedules_the_nightly_backup_once():
    from ersen_ops.status.demo import seed as seed_components
    from runbooks.demo import seed as seed_runbooks

    seed_components(io.StringIO())
    seed_runbooks(io.StringIO())
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    nightly = Schedule.objects.get(name__startswith="Nightly verified backup")
    assert nightly.cron == "0 3 * * *" and nightly.host.name == "sandbox" and nightly.catch_up
    assert nightly.runbook.slug in ("nightly-backup", "database-backup")
    assert AuditEvent.objects.filter(action=Event.SCHEDULE_CREATED).count() == Schedule.objects.count()
    due = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)  # 03:00 PST
    Schedule.objects.update(evaluated_until=due - timedelta(minutes=1))
    services.tick(now=due + timedelta(seconds=30))
    occurrence = nightly.occurrences.get()
    assert occurrence.outcome == Outcome.SKIPPED and "no pinned host key" in occurrence.reason
