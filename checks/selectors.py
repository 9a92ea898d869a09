"""Reads of the checks (a constant number of queries however many checks there are)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from ersen_ops.status.models import Component

from .models import Check, CheckIncident, CheckResult

SPARKLINE_RESULTS = 60
LAST_RESULTS = 20


def check_list() -> QuerySet[Check]:
    return Check.objects.prefetch_related(Prefetch("components", queryset=Component.objects.only("pk", "name")))


def last_results(check: Check, limit: int = SPARKLINE_RESULTS) -> list[CheckResult]:
    """Newest first."""
    return list(CheckResult.objects.filter(health_check=check).order_by("-at", "-id")[:limit])


def automated_incidents(check: Check) -> list[CheckIncident]:
    return list(CheckIncident.objects.filter(health_check=check).select_related("incident")[:20])
