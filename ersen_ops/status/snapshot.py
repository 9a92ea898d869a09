"""The components' public status, as plain data: what the public may see of a component after the rollup.

`selectors.load_components()` loads the rows and the impacts (a constant number of queries) and calls
`build_components` here, which is pure (the rolled-up status: manual,
incidents, windows and the automatic status the checks set). The public events (incidents, maintenances) are built by
`statuspage.snapshot`, the one file that decides what else may leave the building.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ersen_ops.status import policy


@dataclass
class PublicComponent:
    pk: int
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    position: int
    description: str | None
    showcase: bool
    start_date: date | None
    group_id: str | None
    group: bool
    only_show_if_degraded: bool
    children: list[str] = field(default_factory=list)
    in_maintenance: bool = False  # a window on it is in progress (the uptime history counts that time as maintenance)

    @property
    def status_label(self) -> str:
        return self.status.replace("_", " ").capitalize()


def latest(*moments):
    present = [m for m in moments if m is not None]
    return max(present) if present else None


# --- components -----------------------------------------------------------------------------------


def build_components(
    rows,
    *,
    impacts: dict[int, list[tuple[str, datetime]]],
    in_maintenance: dict[int, datetime | None],
    last_changes: dict[int, datetime],
) -> list[PublicComponent]:
    """Public components with their rolled-up status, groups after their children are known.

    `rows`: every Component (ordered); `impacts`: component pk → [(impact, since)] of unresolved
    incidents; `in_maintenance`: component pk → start of an in-progress window on it;
    `last_changes`: component pk → the last time an incident on it resolved or a window on it ended.
    """
    rows = list(rows)
    by_pk = {c.pk: c for c in rows}
    # Hiding a group hides its children too: a hidden group is an internal section as a whole.
    public = [c for c in rows if c.public and (c.group_id is None or by_pk[c.group_id].public)]
    result: dict[int, PublicComponent] = {}
    for c in public:
        if c.is_group:
            continue
        own_impacts = impacts.get(c.pk, [])
        status = policy.component_status(
            manual=c.status,
            incident_impacts=[i for i, _ in own_impacts],
            in_maintenance=c.pk in in_maintenance,
            automatic=c.automatic_status,
        )
        updated = latest(
            c.updated_at,
            c.automatic_status_changed_at,
            *(since for _, since in own_impacts),
            in_maintenance.get(c.pk),
            last_changes.get(c.pk),
        )
        parent = by_pk.get(c.group_id) if c.group_id else None
        result[c.pk] = PublicComponent(
            pk=c.pk,
            id=c.public_id,
            name=c.name,
            status=status,
            created_at=c.created_at,
            updated_at=updated,
            position=c.position,
            description=c.description or None,
            showcase=c.showcase,
            start_date=c.start_date,
            group_id=parent.public_id if parent is not None and parent.is_group else None,
            group=False,
            only_show_if_degraded=c.only_show_if_degraded,
            in_maintenance=c.pk in in_maintenance,
        )
    for c in public:
        if not c.is_group:
            continue
        children = [result[k.pk] for k in public if not k.is_group and k.group_id == c.pk and k.pk in result]
        result[c.pk] = PublicComponent(
            pk=c.pk,
            id=c.public_id,
            name=c.name,
            status=policy.group_status(manual=c.status, children=[k.status for k in children]),
            created_at=c.created_at,
            updated_at=latest(c.updated_at, *(k.updated_at for k in children)),
            position=c.position,
            description=c.description or None,
            showcase=c.showcase,
            start_date=c.start_date,
            group_id=None,
            group=True,
            only_show_if_degraded=c.only_show_if_degraded,
            children=[k.id for k in children],
        )
    return [result[c.pk] for c in public]


def leaf_statuses(components: list[PublicComponent]) -> list[str]:
    return [c.status for c in components if not c.group]
