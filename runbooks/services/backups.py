"""The backup inventory, written from a finished run's result (never by the library task itself).

A run's result is the only input: backup_database's verified dump becomes a `Backup`; copy_backup_offhost's
verified copy a `BackupCopy`; prune_backups' deletions mark rows pruned; verify_restore's success marks the backup
restore-verified. Called inside `execution_finish`'s transaction (so the inventory and the run's final state commit
together), each change audited; a verified backup with a verified off-host copy is announced after the commit
(`runbooks.backup_events`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from ersen_ops.audit.services import record
from runbooks import backup_events, policy
from runbooks.models import Backup, BackupCopy, RunbookExecution
from runbooks.services.common import SYSTEM_WORKER


def _taken_at(result: dict, execution: RunbookExecution) -> datetime:
    parsed = parse_datetime(result.get("taken_at") or "") if isinstance(result.get("taken_at"), str) else None
    return parsed or execution.started_at or execution.finished_at


def _record_backup_inventory(execution: RunbookExecution) -> None:
    result = execution.result if isinstance(execution.result, dict) else {}
    now = execution.finished_at
    backup = None
    dump = policy.verified_dump_of(result)
    if dump is not None:
        backup = Backup.objects.filter(host_id=execution.host_id, path=dump["path"], pruned_at__isnull=True).first()
        if backup is None:
            backup = Backup(
                host_id=execution.host_id,
                path=dump["path"],
                size=dump["size"],
                sha256=dump["sha256"],
                taken_at=_taken_at(result, execution),
                execution=execution,
                verified=True,
            )
            backup.full_clean()
            backup.save()
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.backup.recorded",
                target=backup,
                data={"path": backup.path, "size": backup.size, "sha256": backup.sha256, "execution": execution.pk},
            )
    copy = result.get("offhost_copy")
    new_copy = None
    if isinstance(copy, dict) and copy.get("verified") is True:
        source = (
            backup
            or Backup.objects.filter(
                host_id=execution.host_id, path=copy.get("source_path"), pruned_at__isnull=True
            ).first()
        )
        if source is not None and copy.get("sha256") == source.sha256:
            new_copy, created = BackupCopy.objects.get_or_create(
                backup=source,
                destination_id=copy["destination_id"],
                path=copy["path"],
                defaults={"sha256": copy["sha256"], "verified_at": now, "execution": execution},
            )
            if not created:
                new_copy.sha256, new_copy.verified_at, new_copy.execution = copy["sha256"], now, execution
                new_copy.save(update_fields=["sha256", "verified_at", "execution"])
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.backup.copy_verified",
                target=source,
                data={
                    "destination": copy.get("destination"),
                    "path": copy["path"],
                    "sha256": copy["sha256"],
                    "execution": execution.pk,
                    "already_there": bool(copy.get("already_there")),
                },
            )
    prune = result.get("prune")
    if isinstance(prune, dict):
        for deleted in prune.get("deleted") or ():
            row = (
                Backup.objects.select_for_update()
                .filter(host_id=execution.host_id, pk=deleted.get("backup"), path=deleted.get("path"))
                .first()
            )
            if row is None or row.pruned_at is not None:
                continue
            row.pruned_at, row.pruned_by = now, execution
            row.save(update_fields=["pruned_at", "pruned_by"])
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.backup.pruned",
                target=row,
                data={
                    "before": {"pruned_at": None},
                    "after": {"pruned_at": now.isoformat()},
                    "path": row.path,
                    "taken_at": row.taken_at.isoformat(),
                    "execution": execution.pk,
                },
            )
    restore = result.get("restore_verification")
    if isinstance(restore, dict) and restore.get("ok") is True:
        row = Backup.objects.filter(host_id=execution.host_id, path=restore.get("path"), pruned_at__isnull=True).first()
        if row is not None:
            row.restore_verified_at, row.restore_execution = now, execution
            row.save(update_fields=["restore_verified_at", "restore_execution"])
            record(
                actor=SYSTEM_WORKER,
                action="runbooks.backup.restore_verified",
                target=row,
                data={k: restore.get(k) for k in ("database", "tables", "rows")} | {"execution": execution.pk},
            )
    if new_copy is not None:
        landed = new_copy.backup
        event = backup_events.BackupLanded(
            backup_id=landed.pk,
            host_name=execution.host_snapshot.get("name", ""),
            path=landed.path,
            sha256=landed.sha256,
            taken_at=landed.taken_at,
            copies=tuple(f"{c.destination.name}:{c.path}" for c in landed.copies.select_related("destination")),
            execution_id=execution.pk,
            at=now,
        )
        transaction.on_commit(lambda: backup_events.announce(event))
