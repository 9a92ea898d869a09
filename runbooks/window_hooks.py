"""What runbooks adds to a maintenance window, through the registries maintenance offers.

- evidence: a verified backup run of the window approves "Backup completed and verified" (`maintenance.evidence`):
  pushed when the run finishes (`record_backup_evidence`), offered when the window's checklist is created
  (`offered_backup_evidence`); both decide with `policy.is_verified_backup`, the one definition;
- the window page's "Runbooks for this window" panel (runs and Run buttons) and the summary's "Runbook executions".

`register()` is called from `RunbooksConfig.ready()`.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.display import status_badge
from ersen_ops.core.errors import DomainError
from maintenance import services as maintenance_services
from maintenance.choices import ItemKey, WindowStatus
from maintenance.evidence import ChecklistEvidence, register_evidence_provider
from maintenance.registry import (
    SummaryLine,
    SummarySection,
    WindowPanel,
    register_summary_section,
    register_window_panel,
)
from runbooks import policy, selectors
from runbooks.choices import STATUS_COLOURS
from runbooks.models import RunbookExecution

PERM_VIEW_EXECUTION = "runbooks.view_runbookexecution"
PERM_RUN = "runbooks.run_runbook"


def is_verified_backup(execution: RunbookExecution) -> bool:
    return policy.is_verified_backup(status=execution.status, plan=execution.plan, result=execution.result)


def backup_evidence(execution: RunbookExecution) -> ChecklistEvidence | None:
    """The checklist evidence `execution` is, or None when it is not a verified backup."""
    if not is_verified_backup(execution):
        return None
    result = execution.result
    return ChecklistEvidence(
        item_key=ItemKey.BACKUP_VERIFIED,
        summary=f"Backup {result.get('path', '?')}, {result.get('size', '?')} bytes, sha256 "
        f"{result.get('sha256', '?')}, verified by runbook execution {execution.pk}.",
        source_kind=RunbookExecution._meta.label_lower,
        source_id=str(execution.pk),
        at=execution.finished_at,
    )


def offered_backup_evidence(window, now: datetime) -> ChecklistEvidence | None:
    """The first verified backup run of `window` (a provider for `maintenance.evidence`)."""
    for execution in selectors.executions_for_window(window).order_by("pk"):
        evidence = backup_evidence(execution)
        if evidence is not None:
            return evidence
    return None


def record_backup_evidence(execution: RunbookExecution, *, actor: str) -> None:
    """A finished run linked to a window: if it is a verified backup, it approves the window's backup item
    (a refusal is audited as `actor`'s, and leaves the execution's own result alone)."""
    evidence = backup_evidence(execution) if execution.window_id else None
    if evidence is None:
        return
    try:
        with transaction.atomic():  # a savepoint: a refusal must not undo the execution's own result
            maintenance_services.checklist_record_evidence(window=execution.window, evidence=evidence)
    except DomainError as exc:
        record(
            actor=actor,
            action="runbooks.execution.evidence_refused",
            target=execution,
            data={"window": execution.window_id, "reason": str(exc)},
        )


def window_panel_context(request, window) -> dict | None:
    """The window's runs (for who may see runs) and Run buttons (while it is scheduled or in progress)."""
    from django.urls import reverse

    runs = []
    if request.user.has_perm(PERM_VIEW_EXECUTION):
        runs = [
            {
                "execution": e,
                "url": reverse("admin:runbooks_runbookexecution_change", args=[e.pk]),
                "badge": status_badge(e.status, e.get_status_display(), STATUS_COLOURS),
            }
            for e in selectors.executions_for_window(window).order_by("-requested_at", "-id")
        ]
    links = []
    if request.user.has_perm(PERM_RUN) and window.status in (WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS):
        links = selectors.runbook_launch_links_for_window(window)
    if not (runs or links):
        return None
    return {"runbook_runs": runs, "runbook_links": links}


def _short_result(result) -> str:
    if isinstance(result, dict):
        parts = [
            f"{k}={v}" for k, v in result.items() if k in ("path", "size", "sha256", "verified", "exit_code", "error")
        ]
        return ", ".join(parts) or str(result)[:200]
    return str(result)[:200]


def summary_lines(window) -> list[SummaryLine]:
    return [
        SummaryLine(
            label=str(e),
            status=e.get_status_display(),
            detail=_short_result(e.result) if e.result else "",
        )
        for e in RunbookExecution.objects.filter(window=window).order_by("pk")
    ]


def register() -> None:
    register_evidence_provider(ItemKey.BACKUP_VERIFIED, offered_backup_evidence)
    register_window_panel(
        WindowPanel(
            name="runbooks", template="admin/runbooks/window_panel.html", context=window_panel_context, order=10
        )
    )
    register_summary_section(SummarySection(name="runbooks", title="Runbook executions", lines=summary_lines, order=10))
