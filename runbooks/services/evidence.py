"""What a verified backup run hands the maintenance window it is linked to (its checklist evidence)."""

from __future__ import annotations

from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError
from runbooks.models import RunbookExecution
from runbooks.services.common import SYSTEM_WORKER


def _record_backup_evidence(execution: RunbookExecution) -> None:
    """A verified backup linked to a window approves its "Backup completed and verified" checklist item."""
    if not any(step.get("task") == "backup_database" for step in execution.plan):
        return
    try:
        from maintenance import services as maintenance_services

        record_evidence = getattr(maintenance_services, "checklist_record_backup_evidence", None)
    except ImportError:  # pragma: no cover - the maintenance app is always installed
        record_evidence = None
    if record_evidence is None:
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.evidence_skipped",
            target=execution,
            data={"reason": "maintenance.services.checklist_record_backup_evidence is not available"},
        )
        return
    try:
        with transaction.atomic():  # a savepoint: a refusal must not undo the execution's own result
            record_evidence(window=execution.window, execution=execution)
    except DomainError as exc:
        record(
            actor=SYSTEM_WORKER,
            action="runbooks.execution.evidence_refused",
            target=execution,
            data={"window": execution.window_id, "reason": str(exc)},
        )
