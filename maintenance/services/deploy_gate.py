"""The deploy gate: may CI deploy these components now? Gathers the facts, asks the pure rule
(`maintenance.policy.deploy_gate`) and audits the decision and who asked.

Read-only apart from its audit event: asking never changes a window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core import kit
from ersen_ops.core.services import current_phase
from maintenance import policy, selectors
from maintenance.models import MaintenanceWindow

PERM_VIEW = "maintenance.view_maintenancewindow"
ACTION_ALLOWED = "maintenance.deploy_gate.allowed"
ACTION_DENIED = "maintenance.deploy_gate.denied"


def split_components(value: str | Iterable[str]) -> list[str]:
    """'api, website' or ['api', 'website'] → ['api', 'website'] (as CI writes them)."""
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    return [p.strip() for p in parts if p.strip()]


@transaction.atomic
def deploy_gate_check(
    *,
    actor,
    components: str | Iterable[str],
    window: str = "",
    now: datetime | None = None,
    details: dict | None = None,
    request=None,
) -> policy.GateDecision:
    """The gate's decision at `now` for a deploy of `components` (optionally under the named window), audited
    with who asked (`details`: e.g. the CI job or the API token)."""
    now = kit.now_or(now)
    kit.require(actor, PERM_VIEW, what="asking the deploy gate", anonymous=False)
    names = split_components(components)
    phase = current_phase()
    facts = selectors.deploy_gate_facts(components=names, window=(window or "").strip(), now=now, phase=phase)
    decision = policy.deploy_gate(facts, now)
    target = MaintenanceWindow.objects.filter(public_id__in=decision.windows).first() if decision.windows else None
    record(
        actor=actor,
        action=ACTION_ALLOWED if decision.allowed else ACTION_DENIED,
        target=target,
        data={
            "components": names,
            "window": facts.window,
            "phase": phase,
            "allowed": decision.allowed,
            "reasons": list(decision.reasons),
            "refused_by": list(decision.refused_by),
            "windows": list(decision.windows),
            **({"asked_by": details} if details else {}),
        },
        request=request,
    )
    return decision
