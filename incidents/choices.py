"""Incident enumerations: levels (the seed's "Incident Response Levels"), the status lifecycle, component impacts.

The status values are the Statuspage convention, so the status API publishes them unchanged.
"""

from __future__ import annotations

from django.db import models

from ersen_ops.core import choices as transitions


class Level(models.TextChoices):
    P1 = "P1", "P1 — Service down, data loss risk"
    P2 = "P2", "P2 — Major feature broken"
    P3 = "P3", "P3 — Minor bug, workaround exists"
    P4 = "P4", "P4 — Cosmetic / enhancement"


# Lower number = more urgent. "Raising" a level means moving to a lower rank.
LEVEL_RANK = {Level.P1: 1, Level.P2: 2, Level.P3: 3, Level.P4: 4}

LEVEL_COLOURS = {
    Level.P1: "#b71c1c",
    Level.P2: "#e65100",
    Level.P3: "#f9a825",
    Level.P4: "#546e7a",
}


class IncidentStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"



class IncidentEvent(models.TextChoices):
    """Every event name an incident writes: audit actions, notification events, status-page posts.

    Other apps (subscribers, the status page, the control room) import these instead of spelling the strings."""

    OPENED = "incident.opened", "Opened"
    ACKNOWLEDGED = "incident.acknowledged", "Acknowledged"
    LEVEL_CHANGED = "incident.level_changed", "Level changed"
    LEVEL_RAISED = "incident.level_raised", "Level raised"
    LEVEL_LOWERED = "incident.level_lowered", "Level lowered"
    UPDATE_POSTED = "incident.update_posted", "Update posted"
    COMMANDER_ASSIGNED = "incident.commander_assigned", "Commander assigned"
    COMPONENTS_CHANGED = "incident.components_changed", "Components changed"
    WINDOW_LINKED = "incident.window_linked", "Maintenance window linked"
    EDITED = "incident.edited", "Edited"
    BREACHED = "incident.breached", "Response SLA breached"
    PAGED = "incident.paged", "Paged"
    REPAGED = "incident.repaged", "Paged again"
    PAGER_ACKNOWLEDGE = "incident.pager_acknowledge", "Pager told: acknowledge"
    PAGER_RESOLVE = "incident.pager_resolve", "Pager told: resolve"
    # A public update on the status page is "incident.<its status>" (RESOLVED is also the audit action).
    INVESTIGATING = "incident.investigating", "Public update: investigating"
    IDENTIFIED = "incident.identified", "Public update: identified"
    MONITORING = "incident.monitoring", "Public update: monitoring"
    RESOLVED = "incident.resolved", "Resolved"

    @classmethod
    def public_update(cls, status: str) -> IncidentEvent:
        """The status-page event of a public update in `status` (an IncidentStatus)."""
        return cls(f"incident.{status}")

    @classmethod
    def pager(cls, action: str) -> IncidentEvent:
        """The notification event that tells the pager `action` ("acknowledge" or "resolve")."""
        return cls(f"incident.pager_{action}")


# The status-page events of public updates, one per IncidentStatus.
PUBLIC_UPDATE_EVENTS = frozenset(IncidentEvent.public_update(status) for status in IncidentStatus.values)

# The lifecycle. A fix can fail, so the open states may move back and forth; resolved is final
# (a recurrence is a new incident). Posting an update in the same status is not a transition.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    IncidentStatus.INVESTIGATING: (IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING, IncidentStatus.RESOLVED),
    IncidentStatus.IDENTIFIED: (IncidentStatus.INVESTIGATING, IncidentStatus.MONITORING, IncidentStatus.RESOLVED),
    IncidentStatus.MONITORING: (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.RESOLVED),
    IncidentStatus.RESOLVED: (),
}

OPEN_STATUSES = (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING)

STATUS_COLOURS = {
    IncidentStatus.INVESTIGATING: "#c62828",
    IncidentStatus.IDENTIFIED: "#ef6c00",
    IncidentStatus.MONITORING: "#1565c0",
    IncidentStatus.RESOLVED: "#2e7d32",
}


def can_transition(current: str, target: str) -> bool:
    return transitions.can_transition(TRANSITIONS, current, target)


class Impact(models.TextChoices):
    """What an incident does to a component; the values are the component statuses they set."""

    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"


# Higher = worse; the worst impact of all unresolved incidents wins.
IMPACT_SEVERITY = {
    Impact.DEGRADED_PERFORMANCE: 1,
    Impact.PARTIAL_OUTAGE: 2,
    Impact.MAJOR_OUTAGE: 3,
}

IMPACT_COLOURS = {
    Impact.DEGRADED_PERFORMANCE: "#f9a825",
    Impact.PARTIAL_OUTAGE: "#ef6c00",
    Impact.MAJOR_OUTAGE: "#c62828",
}
