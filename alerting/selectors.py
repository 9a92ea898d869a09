"""Reads for alert intake: the integration behind a token, the rules in order, the open groups of an integration."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef

from alerting import policy
from alerting.choices import OPEN_GROUP_STATUSES, GroupStatus, Outcome
from alerting.models import AlertGroup, AlertIntegration, AlertRule, ReceivedAlert
from maintenance import selectors as maintenance_selectors
from maintenance.choices import WindowStatus

# Suppressed alerts older than this are not released when their window ends (the sender has long repeated them).
RELEASE_LOOKBACK = timedelta(hours=24)


def integration_for_token(token: str) -> AlertIntegration | None:
    """The active integration whose token this is (looked up by its visible prefix, compared by hash), or None."""
    token = (token or "").strip()
    if not token.startswith(policy.TOKEN_START) or len(token) > 200:
        return None
    integration = AlertIntegration.objects.filter(token_prefix=policy.token_prefix(token)).first()
    if integration is None or not policy.token_matches(token, integration.token_hash):
        return None
    return integration


def rule_facts() -> list[policy.RuleFacts]:
    """Enabled rules by position, with their components: two queries."""
    rules = AlertRule.objects.filter(enabled=True).prefetch_related("components").order_by("position", "id")
    return [
        policy.RuleFacts(
            id=r.pk,
            name=r.name,
            matchers=r.matchers or {},
            component_ids=frozenset(c.pk for c in r.components.all()),
            impact=r.impact,
            level=r.level,
            integration_id=r.integration_id,
        )
        for r in rules
    ]


def open_groups(integration: AlertIntegration) -> list[AlertGroup]:
    return list(
        AlertGroup.objects.filter(integration=integration, status__in=OPEN_GROUP_STATUSES).select_related("incident")
    )


def quiet_groups_due(now) -> list[int]:
    """Ids of quiet groups whose quiet period is over (checked again under the lock)."""
    candidates = AlertGroup.objects.filter(status=GroupStatus.QUIET, quiet_since__isnull=False).select_related(
        "integration"
    )
    return [
        g.pk
        for g in candidates
        if policy.quiet_over(quiet_since=g.quiet_since, quiet_minutes=g.integration.quiet_minutes, now=now)
    ]


def windows_in_progress(component_ids) -> list[policy.WindowOnComponents]:
    return [
        policy.WindowOnComponents(id=pk, public_id=public_id, title=title, component_ids=ids)
        for pk, public_id, title, ids in maintenance_selectors.windows_in_progress_on(component_ids)
    ]


def suppressed_alerts_to_release(now, *, ids=None) -> list[ReceivedAlert]:
    """The latest word on an alert is “suppressed” by a window no longer in progress, and recent: it may be still
    firing with nobody told. (Its endsAt is no end: Prometheus sends a lease a few minutes ahead and renews it with
    Alertmanager, which notifies again only on a change; a resolution comes as a later notification.)"""
    later = ReceivedAlert.objects.filter(
        integration=OuterRef("integration"), fingerprint=OuterRef("fingerprint"), id__gt=OuterRef("id")
    )
    rows = (
        ReceivedAlert.objects.filter(outcome=Outcome.SUPPRESSED, received_at__gte=now - RELEASE_LOOKBACK)
        .exclude(window__status=WindowStatus.IN_PROGRESS)
        .exclude(Exists(later))
        .select_related("window")
        .order_by("id")
    )
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return list(rows)
