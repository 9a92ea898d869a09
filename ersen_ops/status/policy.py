"""The public status rollup, as pure functions (no database, no clock).

- A component's public status is the worst of its manual status (set in the admin), the
  impacts of unresolved incidents on it, `under_maintenance` while a window on it is in
  progress, and its automatic status (what its health checks say, set by the checks app).
  Maintenance ranks below every degradation: a degraded component under maintenance shows
  "degraded". The automatic status is ignored while a window on the component is in progress:
  a failing check during maintenance is expected, and that time counts as maintenance.
- A group's status is the worst of its own manual status and its public children.
- The page indicator (Statuspage v2) is told by the components: the worst public component's
  status decides (degraded → minor, partial outage → major, major outage → critical, under
  maintenance → maintenance), so the headline and the components tell one story. Incidents
  speak through the components they affect; one that affects no public component adds its
  own impact (see `rollup`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ersen_ops.status.choices import ComponentStatus

OPERATIONAL = ComponentStatus.OPERATIONAL.value
UNDER_MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE.value
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE.value
PARTIAL = ComponentStatus.PARTIAL_OUTAGE.value
MAJOR = ComponentStatus.MAJOR_OUTAGE.value

# Higher = worse.
COMPONENT_SEVERITY: dict[str, int] = {OPERATIONAL: 0, UNDER_MAINTENANCE: 1, DEGRADED: 2, PARTIAL: 3, MAJOR: 4}

# Statuspage indicators (page status and incident impact), higher = worse.
INDICATORS = ("none", "maintenance", "minor", "major", "critical")
INDICATOR_SEVERITY: dict[str, int] = {name: rank for rank, name in enumerate(INDICATORS)}
INDICATOR_DESCRIPTIONS: dict[str, str] = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}

def worst_component_status(statuses: Iterable[str]) -> str:
    worst = OPERATIONAL
    for status in statuses:
        if COMPONENT_SEVERITY.get(status, 0) > COMPONENT_SEVERITY[worst]:
            worst = status
    return worst


def worst_indicator(indicators: Iterable[str]) -> str:
    worst = "none"
    for indicator in indicators:
        if INDICATOR_SEVERITY.get(indicator, 0) > INDICATOR_SEVERITY[worst]:
            worst = indicator
    return worst


def component_status(
    *, manual: str, incident_impacts: Iterable[str] = (), in_maintenance: bool = False, automatic: str = OPERATIONAL
) -> str:
    """The public status of one (leaf) component: the worst of manual, incident impacts, window, automatic.

    A health check can only make it worse (the worst is taken), never better; during a window in progress the
    automatic status does not count (the checks' failures are maintenance, not downtime).
    """
    return worst_component_status(
        [
            manual,
            *incident_impacts,
            UNDER_MAINTENANCE if in_maintenance else OPERATIONAL,
            OPERATIONAL if in_maintenance else automatic,
        ]
    )


def group_status(*, manual: str, children: Iterable[str]) -> str:
    return worst_component_status([manual, *children])


# The page indicator from the worst (leaf, public) component status: the headline names what a component shows.
INDICATOR_FROM_COMPONENT: dict[str, str] = {
    OPERATIONAL: "none",
    UNDER_MAINTENANCE: "maintenance",
    DEGRADED: "minor",
    PARTIAL: "major",
    MAJOR: "critical",
}


def indicator_from_components(statuses: list[str]) -> str:
    """What the (leaf, public) components' states say about the page: the worst one's indicator."""
    return INDICATOR_FROM_COMPONENT.get(worst_component_status(statuses), "none")


def rollup(
    *,
    component_statuses: list[str],
    incident_impacts: Iterable[str] = (),
    maintenance_in_progress: bool = False,
    unplaced_incident_impacts: Iterable[str] = (),
) -> tuple[str, str]:
    """(indicator, description) of the whole page, told by the components (Statuspage's rule).

    The worst component decides: degraded performance → minor ("Partially Degraded Service"), partial
    outage → major ("Partial System Outage"), major outage → critical ("Major System Outage"), under
    maintenance → maintenance. An incident speaks through the components it affects (its impacts set their
    status), so the headline never says more than a component does; only an incident that names no public
    component adds its own impact (`unplaced_incident_impacts`: there is no component to tell it). A window
    in progress shows its components under maintenance; `maintenance_in_progress` covers one on no public
    component. `incident_impacts` is accepted for callers and ignored: the components already carry it.
    """
    indicator = worst_indicator(
        [
            indicator_from_components(component_statuses),
            *unplaced_incident_impacts,
            "maintenance" if maintenance_in_progress else "none",
        ]
    )
    return indicator, INDICATOR_DESCRIPTIONS[indicator]


def component_problems(*, name: str, is_group: bool, group_id: int | None, pk: int | None, children: int) -> list[str]:
    """What is wrong with a component's grouping (empty: nothing)."""
    problems = []
    if is_group and group_id:
        problems.append(f"“{name}” is a group: a group cannot belong to another group (clear its group).")
    if pk is not None and group_id == pk:
        problems.append(f"“{name}” cannot be its own group.")
    if not is_group and children:
        problems.append(f"“{name}” has {children} component(s) in it; move them out before it stops being a group.")
    return problems
