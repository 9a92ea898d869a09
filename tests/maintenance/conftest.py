"""Maintenance fixtures: a phase switch and windows driven through the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from maintenance import services
from maintenance.models import ChecklistItem
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory


def ensure_checklist_templates():
    """The seeded templates (a data migration); a transactional test's flush removes them, so re-seed."""
    import importlib

    from django.apps import apps
    from django.db import connection

    from maintenance.models import ChecklistTemplate

    if ChecklistTemplate.objects.count() < 3:
        migration = importlib.import_module("maintenance.migrations.0002_seed_checklist_templates")
        migration.seed(apps, type("SchemaEditor", (), {"connection": connection})())


@pytest.fixture(autouse=True)
def _checklist_templates(request):
    if (
        "db" in request.fixturenames
        or "transactional_db" in request.fixturenames
        or request.node.get_closest_marker("django_db")
    ):
        request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
        ensure_checklist_templates()


@pytest.fixture
def postlaunch(db):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


@pytest.fixture
def prelaunch(db):
    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)


@pytest.fixture
def make_window(db, users):
    def make(**kwargs):
        kwargs.setdefault("owner", users["operator"])
        return MaintenanceWindowFactory(**kwargs)

    return make


def schedule(window, actor, *, now=None, **kwargs):
    now = now or window.planned_start - timedelta(days=2)
    return services.window_schedule(actor=actor, window=window, now=now, **kwargs)


def approve_phase(window, phase, approvers, *, now, note="done", skip_keys=()):
    """Approve every open item of a phase with the first approver the rules accept."""
    from ersen_ops.core.errors import DomainError

    for item in ChecklistItem.objects.filter(window=window, phase=phase, done_at__isnull=True).exclude(
        key__in=skip_keys
    ):
        for user in approvers:
            try:
                services.checklist_approve(
                    actor=user, item=item, note=note, evidence_url="https://ops.example/evidence", now=now
                )
            except DomainError:
                continue
            item.refresh_from_db()
            if item.done_at:
                break


@pytest.fixture
def scheduled_window(make_window, users, postlaunch):
    window = make_window(on_call_engineer=users["approver"])
    with time_machine.travel(JAN_TUE_0200 - timedelta(days=2), tick=False):
        schedule(window, users["operator"])
    return window
