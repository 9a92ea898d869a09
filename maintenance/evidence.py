"""Evidence that approves a checklist item, handed to maintenance by the app that produced it.

Maintenance does not know what a verified backup or a passing health check is: the producing app does. It hands
a `ChecklistEvidence` to the one entry point, `maintenance.services.checklist_record_evidence(window=…,
evidence=…)`, which applies the rules and records the system approval (audited). An app whose evidence may exist
before the window has a checklist (a backup taken before scheduling) also registers a provider here; scheduling
asks every provider once the checklist is created, and records what they offer through the same entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ChecklistEvidence:
    """What proves a checklist item, in the producing app's words."""

    item_key: str  # the `maintenance.choices.ItemKey` this proves
    summary: str  # what it showed, copied onto the approval ("Backup /b.sql, 12 bytes, sha256 …, verified by …")
    source_kind: str = ""  # the proving record as "app_label.model" (e.g. "runbooks.runbookexecution"); "" for none
    source_id: str = ""  # that record's primary key (the window page links to its admin page)
    source_public_id: str = ""  # its public id, when it has one (run_…, chk_…)
    url: str = ""  # an absolute link where a person can look at it, when there is one outside the admin
    at: datetime | None = None  # when the source produced it


EvidenceProvider = Callable[[object, datetime], "ChecklistEvidence | None"]

_providers: dict[str, list[EvidenceProvider]] = {}


def register_evidence_provider(item_key: str, provider: EvidenceProvider) -> None:
    """`provider(window, now)` returns the evidence for `item_key` that exists for `window`, or None. Idempotent
    (registering the same function twice, e.g. when `ready()` runs again in tests, keeps one)."""
    providers = _providers.setdefault(str(item_key), [])
    if provider not in providers:
        providers.append(provider)


def evidence_offered(window, now: datetime) -> list[ChecklistEvidence]:
    """Every registered provider's evidence for `window` at `now` (read-only)."""
    offered = []
    for providers in _providers.values():
        for provider in providers:
            evidence = provider(window, now)
            if evidence is not None:
                offered.append(evidence)
    return offered
