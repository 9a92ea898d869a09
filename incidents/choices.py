"""Incident enumerations: levels (the seed's "Incident Response Levels"), the status lifecycle, component impacts.

The status values are the Statuspage convention, so the status API publishes them unchanged.
"""

from django.db import models


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
    return target in TRANSITIONS.get(current, ())


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
