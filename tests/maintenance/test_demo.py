"""Demo data: windows in every state, through the services; running it twice changes nothing."""

import io

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.status.demo import seed as seed_components
from maintenance import demo
from maintenance.choices import WindowStatus
from maintenance.models import Approval, MaintenanceWindow

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_covers_every_state(users):
    seed_components(io.StringIO())
    demo.seed(io.StringIO())
    counts = (MaintenanceWindow.objects.count(), Approval.objects.count(), AuditEvent.objects.count())
    demo.seed(io.StringIO())
    assert (MaintenanceWindow.objects.count(), Approval.objects.count(), AuditEvent.objects.count()) == counts
    statuses = set(MaintenanceWindow.objects.values_list("status", flat=True))
    assert statuses == set(WindowStatus.values)
    running = MaintenanceWindow.objects.get(status=WindowStatus.IN_PROGRESS)
    assert running.overdue_since is not None
