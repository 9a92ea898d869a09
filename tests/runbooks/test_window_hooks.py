"""What runbooks adds to a maintenance window: it alone decides what a verified backup is (the evidence it hands
maintenance), and it registers the window page's panel and the summary's runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maintenance import registry
from maintenance.choices import ItemKey
from maintenance.evidence import evidence_offered
from maintenance.models import ChecklistItem
from runbooks import window_hooks
from runbooks.choices import ExecutionStatus
from tests.maintenance.conftest import ensure_checklist_templates, schedule
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.runbooks.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

RESULT = {"path": "/backups/ersen-20270112.sql.gz", "size": 2147483648, "sha256": "ab" * 32, "verified": True}


@pytest.fixture
def postlaunch(db):
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="postlaunch")
    ensure_checklist_templates()


@pytest.fixture
def make_window(users):
    return lambda **kwargs: MaintenanceWindowFactory(**{"owner": users["operator"], **kwargs})


@pytest.fixture
def scheduled_window(make_window, users, postlaunch):
    window = make_window(on_call_engineer=users["approver"])
    schedule(window, users["operator"])
    return window


def backup_run(window, **kwargs):
    defaults = {"status": ExecutionStatus.SUCCEEDED, "plan": [{"task": "backup_database"}], "result": RESULT}
    return ExecutionFactory(window=window, **{**defaults, **kwargs})


def test_only_a_succeeded_self_verified_backup_run_is_evidence(make_window):
    window = make_window()
    assert window_hooks.is_verified_backup(backup_run(window))
    for kwargs in (
        {"status": ExecutionStatus.FAILED},
        {"status": ExecutionStatus.TIMED_OUT},
        {"result": {**RESULT, "verified": False}},
        {"result": {}},
        {"plan": [{"task": "restart_service"}]},  # verified=True from another task is not a backup
    ):
        execution = backup_run(window, **kwargs)
        assert not window_hooks.is_verified_backup(execution) and window_hooks.backup_evidence(execution) is None


def test_the_evidence_names_the_backup_and_the_run(make_window):
    execution = backup_run(make_window())
    evidence = window_hooks.backup_evidence(execution)
    assert evidence.item_key == ItemKey.BACKUP_VERIFIED
    assert evidence.source_kind == "runbooks.runbookexecution" and evidence.source_id == str(execution.pk)
    assert "/backups/ersen-20270112.sql.gz" in evidence.summary and "sha256 " + "ab" * 32 in evidence.summary


def test_the_provider_offers_the_first_verified_backup_of_this_window_only(make_window):
    window = make_window()
    other = make_window(planned_start=JAN_TUE_0200 + timedelta(days=7))
    backup_run(other)
    backup_run(window, status=ExecutionStatus.FAILED)
    first = backup_run(window)
    backup_run(window)
    offered = [e for e in evidence_offered(window, JAN_TUE_0200) if e.item_key == ItemKey.BACKUP_VERIFIED]
    assert [e.source_id for e in offered] == [str(first.pk)]


def test_a_finished_unverified_run_approves_nothing(scheduled_window):
    window_hooks.record_backup_evidence(
        backup_run(scheduled_window, result={**RESULT, "verified": False}), actor="system:runbook-worker"
    )
    item = ChecklistItem.objects.get(window=scheduled_window, key=ItemKey.BACKUP_VERIFIED)
    assert item.done_at is None and not item.approvals.exists()


def test_a_finished_verified_run_approves_the_backup_item(scheduled_window):
    execution = backup_run(scheduled_window)
    window_hooks.record_backup_evidence(execution, actor="system:runbook-worker")
    item = ChecklistItem.objects.get(window=scheduled_window, key=ItemKey.BACKUP_VERIFIED)
    assert item.done_at is not None and item.approvals.get().evidence == execution


def test_the_summary_lists_the_runs_through_the_registry(make_window, users, postlaunch):
    window = make_window()
    schedule(window, users["operator"])
    execution = backup_run(window)
    sections = dict(registry.summary_sections(window))
    [line] = sections["Runbook executions"]
    assert line.label == str(execution) and line.status == "Succeeded" and "verified=True" in line.detail
    assert "runbooks" in [p.name for p in registry.window_panels()]
