"""The public side's rules over the domain, as pure functions and tables (no database, no clock).

What an incident or a window looks like on a Statuspage page: an incident's public impact (from its
components and its level), a window's Statuspage status, and what each status-page post of a window
says (its status, the components' old → new status, its label). The components' own rollup is
`ersen_ops.status.policy`; these rules name incident levels and maintenance events, so they live above
incidents and maintenance, never in status.
"""

from __future__ import annotations

from collections.abc import Iterable

from ersen_ops.status.policy import DEGRADED, MAJOR, OPERATIONAL, PARTIAL, UNDER_MAINTENANCE, worst_indicator
from incidents.choices import Level
from maintenance.choices import WindowEvent, WindowStatus

# Statuspage incident statuses and scheduled-maintenance statuses.
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")

# An incident's public impact from what it does to components …
IMPACT_FROM_COMPONENT: dict[str, str] = {DEGRADED: "minor", PARTIAL: "major", MAJOR: "critical"}
# … and from its level (the seed's definitions: P1 service down, P2 major feature broken,
# P3 minor bug with a workaround, P4 cosmetic).
IMPACT_FROM_LEVEL: dict[str, str] = {Level.P1: "critical", Level.P2: "major", Level.P3: "minor", Level.P4: "none"}


def incident_impact(*, component_impacts: Iterable[str], level: str | None) -> str:
    """Statuspage `impact` of an incident: the worst of what its components say and what its level says."""
    return worst_indicator(
        [IMPACT_FROM_COMPONENT.get(impact, "none") for impact in component_impacts]
        + [IMPACT_FROM_LEVEL.get(level or "", "none")]
    )


def maintenance_status(*, window_status: str, closed: bool = False) -> str | None:
    """Statuspage status of a window (None: never public).

    A completed window is `completed` on the page, the API and the feeds, whatever its internal "after"
    checklist says (`closed` is internal follow-up, not public state); a cancelled window is `completed`
    (its last update says it was cancelled); drafts are never shown.
    """
    return {
        WindowStatus.SCHEDULED: "scheduled",
        WindowStatus.IN_PROGRESS: "in_progress",
        WindowStatus.COMPLETED: "completed",
        WindowStatus.CANCELLED: "completed",
    }.get(window_status)


# Status-page posts of a window (notifications' StatusPost.event) → the update's status.
# Anything else (e.g. the internal #team-ops summary) is never shown, whatever channel it went to.
MAINTENANCE_EVENT_STATUS: dict[str, str] = {
    WindowEvent.SCHEDULED: "scheduled",
    WindowEvent.RESCHEDULED: "scheduled",
    WindowEvent.UPDATED: "scheduled",
    WindowEvent.REMINDER: "scheduled",
    WindowEvent.STARTED: "in_progress",
    WindowEvent.ETA_CHANGED: "in_progress",
    WindowEvent.OVERDUE: "in_progress",
    WindowEvent.COMPLETED: "completed",
    WindowEvent.CANCELLED: "completed",
}

# What a window's status-page post says its components went from → to.
MAINTENANCE_EVENT_TRANSITION: dict[str, tuple[str, str]] = {
    WindowEvent.SCHEDULED: (OPERATIONAL, OPERATIONAL),
    WindowEvent.RESCHEDULED: (OPERATIONAL, OPERATIONAL),
    WindowEvent.UPDATED: (OPERATIONAL, OPERATIONAL),
    WindowEvent.REMINDER: (OPERATIONAL, OPERATIONAL),
    WindowEvent.STARTED: (OPERATIONAL, UNDER_MAINTENANCE),
    WindowEvent.ETA_CHANGED: (UNDER_MAINTENANCE, UNDER_MAINTENANCE),
    WindowEvent.OVERDUE: (UNDER_MAINTENANCE, UNDER_MAINTENANCE),
    WindowEvent.COMPLETED: (UNDER_MAINTENANCE, OPERATIONAL),
    WindowEvent.CANCELLED: (OPERATIONAL, OPERATIONAL),
}
ANNOUNCEMENT_EVENT = WindowEvent.SCHEDULED

# What each update says happened, in words (feeds, pages).
MAINTENANCE_EVENT_LABELS: dict[str, str] = {event: WindowEvent(event).label for event in MAINTENANCE_EVENT_STATUS}
INCIDENT_STATUS_LABELS: dict[str, str] = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
}


def update_component_transitions(statuses_oldest_first: list[str], impact: str) -> list[tuple[str, str]]:
    """For an incident's public updates (oldest first): (old, new) status of its affected components.

    While the incident is open its components are at `impact`; a resolved update puts them back
    to operational. The first update moves them from operational.
    """
    result = []
    previous = OPERATIONAL
    for status in statuses_oldest_first:
        new = OPERATIONAL if status in ("resolved", "postmortem") else impact
        result.append((previous, new))
        previous = new
    return result
