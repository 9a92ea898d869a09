"""prune_backups on the real sshd sandbox over a synthetic 100-day history of dump files: the exact set it keeps and
why, the newest verified backup and a window's evidence kept, every deletion its own recorded `rm` step with its
audit event, the inventory rows marked pruned, and everything that is not a known dump left alone and reported."""

from __future__ import annotations

import hashlib
import shlex
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from maintenance.choices import ItemKey
from maintenance.models import ChecklistItem
from runbooks import window_hooks
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from runbooks.models import Backup
from tests.maintenance.conftest import ensure_checklist_templates, schedule
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.runbooks.factories import ExecutionFactory
from tests.runbooks.test_execution import launch_and_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LAST_DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday; the history runs back to 2026-08-24
EVIDENCE_DAY = "20260910"


@pytest.fixture(autouse=True)
def _prelaunch(transactional_db):
    site_settings_set_phase(actor="system:test", phase="prelaunch")


def make_history(sandbox, host, users) -> dict[str, Backup]:
    """100 nightly dumps (02:00 UTC) plus a second one on 2026-11-28 at 14:00, as files and inventory rows; the
    2026-09-10 one is a maintenance window's checklist evidence."""
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    ensure_checklist_templates()
    window = MaintenanceWindowFactory(owner=users["operator"], on_call_engineer=users["approver"], title="DB upgrade")
    with time_machine.travel(JAN_TUE_0200 - timedelta(days=2), tick=False):
        schedule(window, users["operator"])
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    history = ExecutionFactory(host=host, status=ExecutionStatus.SUCCEEDED, plan=[{"task": "backup_database"}])
    moments = [LAST_DAY - timedelta(days=i) for i in range(100)] + [datetime(2026, 11, 28, 14, 0, tzinfo=UTC)]
    rows = {}
    for moment in moments:
        name = f"backup_{moment:%Y%m%d}.sql" if moment.hour == 2 else f"backup_{moment:%Y%m%d_%H%M%S}.sql"
        data = f"-- PostgreSQL database dump\n-- {name}\n-- PostgreSQL database dump complete\n".encode()
        path = sandbox.backups / name
        path.write_bytes(data)
        execution = history
        if name == f"backup_{EVIDENCE_DAY}.sql":
            result = {
                "path": str(path),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "verified": True,
            }
            execution = ExecutionFactory(
                host=host,
                window=window,
                status=ExecutionStatus.SUCCEEDED,
                plan=[{"task": "backup_database"}],
                result=result,
            )
            window_hooks.record_backup_evidence(execution, actor="system:runbook-worker")
            item = ChecklistItem.objects.get(window=window, key=ItemKey.BACKUP_VERIFIED)
            assert item.approvals.get().evidence == execution
        rows[name] = Backup.objects.create(
            host=host,
            path=str(path),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            taken_at=moment,
            execution=execution,
            verified=True,
        )
    # In the inventory but gone from the host (deleted by hand): reported, never "deleted" again.
    rows["gone"] = Backup.objects.create(
        host=host,
        path=str(sandbox.backups / "backup_20260801.sql"),
        size=10,
        sha256="0" * 64,
        taken_at=datetime(2026, 8, 1, 2, tzinfo=UTC),
        execution=history,
        verified=True,
    )
    # Not the policy's business: other files, a dump unknown to the inventory, an incomplete dump.
    (sandbox.backups / "notes.txt").write_text("keep me\n")
    (sandbox.backups / "backup_20260101.sql").write_text("made by hand\n")
    (sandbox.backups / "backup_20261101.sql.partial-9").write_text("-- PostgreSQL database dump\n")
    (sandbox.backups / "old").mkdir()
    return rows


KEPT = {
    "backup_20261201.sql": [
        "newest verified backup (2026-12-01 02:00 UTC)",
        "daily 2026-12-01",
        "weekly 2026-W49",
        "monthly 2026-12",
    ],
    "backup_20261130.sql": ["daily 2026-11-30", "monthly 2026-11"],
    "backup_20261129.sql": ["daily 2026-11-29", "weekly 2026-W48"],
    "backup_20261128_140000.sql": ["daily 2026-11-28"],  # the newest of its day; the 02:00 one goes
    "backup_20261127.sql": ["daily 2026-11-27"],
    "backup_20261126.sql": ["daily 2026-11-26"],
    "backup_20261125.sql": ["daily 2026-11-25"],
    "backup_20261122.sql": ["weekly 2026-W47"],
    "backup_20261115.sql": ["weekly 2026-W46"],
    "backup_20261031.sql": ["monthly 2026-10"],
    "backup_20260930.sql": ["monthly 2026-09"],
    "backup_20260910.sql": ["evidence of a maintenance window of window #{window} “DB upgrade”"],
    "backup_20260831.sql": ["monthly 2026-08"],
}
LEFT_ALONE = {
    "notes.txt": "not a backup_database dump (name or type)",
    "old": "not a backup_database dump (name or type)",
    "backup_20261101.sql.partial-9": "not a backup_database dump (name or type)",
    "backup_20260101.sql": "not in the backup inventory (unknown origin: never deleted)",
}


def test_retention_over_100_days_keeps_exactly_the_gfs_set_and_deletes_the_rest_step_by_step(
    users, sandbox_host, sandbox, settings
):
    settings.OPS_BACKUP_KEEP_DAILY, settings.OPS_BACKUP_KEEP_WEEKLY, settings.OPS_BACKUP_KEEP_MONTHLY = 7, 4, 12
    rows = make_history(sandbox, sandbox_host, users)
    window_id = rows[f"backup_{EVIDENCE_DAY}.sql"].execution.window_id
    kept = {name: [r.replace("{window}", str(window_id)) for r in reasons] for name, reasons in KEPT.items()}

    execution = launch_and_run(users, sandbox_host, [{"task": "prune_backups"}], slug="prune")

    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    on_disk = {p.name for p in sandbox.backups.iterdir()}
    assert on_disk == set(kept) | set(LEFT_ALONE)
    prune = execution.result["prune"]
    assert {k["path"].rsplit("/", 1)[-1]: k["reasons"] for k in prune["kept"]} == kept
    assert {e["name"]: e["why"] for e in prune["left_alone"]} == LEFT_ALONE
    assert prune["missing"] == [rows["gone"].path]
    assert prune["counts"] == {"daily": 7, "weekly": 4, "monthly": 12}
    doomed = {name for name in rows if name not in kept and name != "gone"}
    assert len(doomed) == 101 - 13 == len(prune["deleted"])
    # Each deletion is its own step: `rm -- <quoted path>`, exit 0, with its audit event.
    rm_steps = list(execution.steps.filter(label__startswith="Delete ").order_by("order"))
    assert len(rm_steps) == len(doomed)
    exited = {
        e.data["label"]: e.data
        for e in AuditEvent.objects.filter(action="runbooks.command.exited", target_id=str(execution.pk))
    }
    for step in rm_steps:
        path = step.label.removeprefix("Delete ").removesuffix(" (not kept by the retention policy)")
        assert path.rsplit("/", 1)[-1] in doomed
        assert step.kind == StepKind.COMMAND and step.status == StepStatus.SUCCEEDED and step.exit_code == 0
        assert f"rm -- {shlex.quote(path)}" in step.command
        assert exited[step.label]["exit_code"] == 0
    # The decision is recorded with the whole plan.
    decision = execution.steps.get(
        kind=StepKind.DECISION, label__startswith="Retention (7 daily, 4 weekly, 12 monthly)"
    )
    assert decision.label == (
        "Retention (7 daily, 4 weekly, 12 monthly): keep 13, delete 88, leave alone 4; "
        "1 inventory file(s) missing on the host"
    )
    assert len(decision.detail["to_delete"]) == 88
    # The inventory: doomed rows pruned by this run (audited), the rest untouched.
    for name, row in rows.items():
        row.refresh_from_db()
        if name in doomed:
            assert row.pruned_at is not None and row.pruned_by_id == execution.pk, name
        else:
            assert row.pruned_at is None, name
    pruned_events = AuditEvent.objects.filter(action="runbooks.backup.pruned")
    assert pruned_events.count() == 88
    assert {e.data["execution"] for e in pruned_events} == {execution.pk}

    # A second run finds nothing more to delete: the policy is stable.
    again = launch_and_run(users, sandbox_host, [{"task": "prune_backups"}], slug="prune")
    assert again.status == ExecutionStatus.SUCCEEDED, again.error
    assert again.result["prune"]["deleted"] == [] and {p.name for p in sandbox.backups.iterdir()} == on_disk


def test_pruning_with_zero_counts_still_keeps_the_newest_verified_backup_and_the_evidence(users, sandbox_host, sandbox):
    rows = make_history(sandbox, sandbox_host, users)
    execution = launch_and_run(
        users,
        sandbox_host,
        [{"task": "prune_backups", "params": {"keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"}}],
        slug="prune-all",
    )
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    dumps = {p.name for p in sandbox.backups.iterdir()} - set(LEFT_ALONE)
    assert dumps == {"backup_20261201.sql", f"backup_{EVIDENCE_DAY}.sql"}
    assert Backup.objects.filter(pruned_at__isnull=True).count() == 3  # those two and the missing one
    assert rows["backup_20261201.sql"].execution_id != rows[f"backup_{EVIDENCE_DAY}.sql"].execution_id


def test_a_backup_made_in_the_same_run_is_the_newest_verified_and_is_kept(users, sandbox_host, sandbox):
    execution = launch_and_run(
        users,
        sandbox_host,
        [
            {"task": "backup_database"},
            {"task": "prune_backups", "params": {"keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"}},
        ],
        slug="backup-and-prune",
    )
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    made = execution.result["path"]
    assert [k["path"] for k in execution.result["prune"]["kept"]] == [made]
    assert execution.result["prune"]["deleted"] == []
    backup = Backup.objects.get(path=made)
    assert backup.verified and backup.execution_id == execution.pk and backup.pruned_at is None
    assert AuditEvent.objects.filter(action="runbooks.backup.recorded", target_id=str(backup.pk)).exists()
