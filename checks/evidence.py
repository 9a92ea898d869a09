"""Checklist evidence from the checks: the system approves "Test core functionality after changes" (counted from the
window's start, while it is in progress) and "Smoke test all critical paths" (counted from its completion) when every
enabled check of the window's components has passed OPS_CHECK_EVIDENCE_PASSES times since then. The evidence is a
CheckEvidence row listing the passing results, linked from the approval (maintenance's evidence entry point).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from ersen_ops.core.errors import DomainError
from maintenance.choices import ItemKey, WindowStatus
from maintenance.models import MaintenanceWindow

from . import policy
from .models import Check, CheckEvidence, CheckResult

# (item, the window's moment the passes count from, the window states in which the item can be proven)
ITEMS = (
    (ItemKey.TEST_CORE, "actual_start", (WindowStatus.IN_PROGRESS,)),
    (ItemKey.SMOKE_TEST, "actual_end", (WindowStatus.COMPLETED,)),
)
logger = logging.getLogger(__name__)
RECENT = timedelta(days=2)  # completed windows older than this are not looked at any more


def _candidates(key: str, since_field: str, statuses, now: datetime):
    return (
        MaintenanceWindow.objects.filter(
            Q(status=WindowStatus.IN_PROGRESS) | Q(actual_end__gte=now - RECENT),
            status__in=statuses,
            checklist_items__key=key,
            checklist_items__done_at__isnull=True,
            **{f"{since_field}__isnull": False},
        )
        .exclude(check_evidence__item_key=key)
        .distinct()
        .prefetch_related("components")
    )


def window_evidence(window: MaintenanceWindow, *, since: datetime, required: int) -> tuple[list[str], list[dict]]:
    """(what is missing, per-check passing results) for one window since `since` (empty missing: proven)."""
    component_ids = [c.pk for c in window.components.all()]
    checks = list(Check.objects.filter(enabled=True, components__in=component_ids).distinct().order_by("name"))
    counts = dict(
        CheckResult.objects.filter(health_check__in=checks, at__gte=since, passed=True)
        .values_list("health_check").annotate(n=Count("id")).values_list("health_check", "n")
    )
    missing = policy.evidence_shortfall({c.name: counts.get(c.pk, 0) for c in checks}, required=required)
    if missing:
        return missing, []
    proof = []
    for check in checks:
        results = list(CheckResult.objects.filter(health_check=check, at__gte=since, passed=True)
                       .order_by("at", "id")[:required])
        proof.append({
            "check": check.name, "check_id": check.pk, "result_ids": [r.pk for r in results],
            "first_at": results[0].at.isoformat(), "last_at": results[-1].at.isoformat(),
            "last_message": results[-1].message,
        })
    return [], proof


def evidence_sweep(*, now: datetime) -> dict[str, int]:
    from maintenance import services as maintenance_services

    try:
        from maintenance.evidence import ChecklistEvidence
    except ImportError:  # maintenance without its evidence entry point (issue 18): nothing can be recorded yet
        return {}
    if not hasattr(maintenance_services, "checklist_record_evidence"):
        return {}  # maintenance without its evidence entry point (issue 18): nothing can be recorded yet
    required = settings.OPS_CHECK_EVIDENCE_PASSES
    counts: dict[str, int] = defaultdict(int)
    for key, since_field, statuses in ITEMS:
        for window in _candidates(key, since_field, statuses, now):
            since = getattr(window, since_field)
            missing, proof = window_evidence(window, since=since, required=required)
            if missing:
                continue
            summary = (
                f"Every check of the window's components passed {required} time{'s' if required != 1 else ''} since "
                f"the window {'started' if since_field == 'actual_start' else 'completed'}: "
                + "; ".join(f"“{p['check']}” ({p['last_message']})" for p in proof)
                + "."
            )
            try:
                with transaction.atomic():  # maintenance refusing it leaves no CheckEvidence behind
                    evidence, created = CheckEvidence.objects.get_or_create(
                        window=window, item_key=key,
                        defaults={"since": since, "passes_required": required, "summary": summary, "results": proof,
                                  "created_at": now},
                    )
                    if not created:
                        continue
                    approval = maintenance_services.checklist_record_evidence(
                        window=window,
                        evidence=ChecklistEvidence(item_key=key, summary=summary, source_kind="checks.checkevidence",
                                                   source_id=str(evidence.pk), at=now),
                        now=now,
                    )
            except DomainError as exc:
                logger.warning("maintenance refused the checks' evidence for %s of window %s: %s", key, window.pk, exc)
                continue
            counts["evidence"] += 1 if approval is not None else 0
    return dict(counts)
