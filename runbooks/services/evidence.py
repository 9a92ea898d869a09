"""What a verified backup run hands the maintenance window it is linked to (its checklist evidence)."""

from __future__ import annotations

from runbooks import window_hooks
from runbooks.models import RunbookExecution
from runbooks.services.common import SYSTEM_WORKER


def _record_backup_evidence(execution: RunbookExecution) -> None:
    """A finished run linked to a window: if it is a verified backup (`runbooks.policy.is_verified_backup`, the
    one definition), it approves the window's "Backup completed and verified" item through maintenance's one
    entry point (`runbooks.window_hooks.record_backup_evidence`)."""
    window_hooks.record_backup_evidence(execution, actor=SYSTEM_WORKER)
