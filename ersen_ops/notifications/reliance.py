"""Which channels the protocol relies on, and which of those are not configured.

The reliance comes from the apps' own policy tables, not from a copied list: the incidents app registers its
escalation table (P1 → pager + Slack, …), the maintenance app its type table (urgent → email + Discord, …) and
the summary's #team-ops, the runbooks app its failure alerts. `unconfigured_channels(phase)` then names every
channel something relies on whose variables are unset — what the control room shows at the top and
`manage.py ops_doctor` prints. A registry, because this app sits below the ones that rely on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ersen_ops.notifications.outcomes import channel_label, channel_not_configured


@dataclass(frozen=True)
class Reliance:
    channel: str
    purpose: str  # "P1 incidents: the immediate page"
    # Missing it after launch means the protocol cannot be followed at all (P1s page nobody): ops_doctor fails.
    blocking: bool = False


# Each source takes the phase ("prelaunch"/"postlaunch") and returns what it relies on in that phase.
_SOURCES: list[Callable[[str], Iterable[Reliance]]] = []


def register_reliance(source: Callable[[str], Iterable[Reliance]]) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def reliances(phase: str) -> dict[str, list[Reliance]]:
    """{channel: [what relies on it]}, in registration order."""
    result: dict[str, list[Reliance]] = {}
    for source in _SOURCES:
        for item in source(phase):
            bucket = result.setdefault(item.channel, [])
            if item.purpose not in {r.purpose for r in bucket}:
                bucket.append(item)
    return result


@dataclass(frozen=True)
class ChannelGap:
    channel: str
    label: str
    reason: str  # "not configured: set PAGER_WEBHOOK_URL and PAGER_ROUTING_KEY"
    purposes: tuple[str, ...]
    blocking: bool

    @property
    def setting_hint(self) -> str:
        return self.reason.removeprefix("not configured: ")

    def __str__(self) -> str:
        return f"{self.label} is not configured ({self.setting_hint}): {'; '.join(self.purposes)}"


def unconfigured_channels(phase: str) -> list[ChannelGap]:
    """Every channel the protocol relies on in `phase` that would skip its messages now (blocking ones first)."""
    gaps = []
    for channel, items in reliances(phase).items():
        reason = channel_not_configured(channel)
        if reason:
            gaps.append(
                ChannelGap(
                    channel=channel,
                    label=channel_label(channel),
                    reason=reason,
                    purposes=tuple(r.purpose for r in items),
                    blocking=any(r.blocking for r in items),
                )
            )
    return sorted(gaps, key=lambda g: not g.blocking)
