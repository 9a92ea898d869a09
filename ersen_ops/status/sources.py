"""What the apps above tell the status about its components: a registry they fill, so status imports none of them.

A component's public status is its manual status made worse by whatever an app above says about it (an
unresolved incident's impact, a window in progress). Each app registers one `ComponentSource` in its
`AppConfig.ready()`; `selectors.load_components()` asks every source once (one query per callable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

Rows = Iterable[tuple]


def _nothing() -> Rows:
    return ()


@dataclass(frozen=True)
class ComponentSource:
    name: str
    # (component pk, the component status it imposes, since when): e.g. an unresolved incident's impact
    impacts: Callable[[], Rows] = _nothing
    # (component pk, started at or None): a window in progress puts the component under maintenance
    maintenance: Callable[[], Rows] = _nothing
    # (component pk, when an impact on it last ended or None): the component's `updated_at` moves with it
    last_changes: Callable[[], Rows] = _nothing


_SOURCES: dict[str, ComponentSource] = {}


def register_component_source(source: ComponentSource) -> None:
    """Register (or replace, by name) what an app says about the components' public status."""
    _SOURCES[source.name] = source


def component_sources() -> tuple[ComponentSource, ...]:
    return tuple(_SOURCES.values())


def collect() -> tuple[dict[int, list[tuple[str, datetime]]], dict[int, datetime | None], dict[int, datetime]]:
    """(impacts, in_maintenance, last_changes) by component pk, from every registered source."""
    impacts: dict[int, list[tuple[str, datetime]]] = {}
    in_maintenance: dict[int, datetime | None] = {}
    last_changes: dict[int, datetime] = {}
    for source in component_sources():
        for cid, impact, since in source.impacts():
            impacts.setdefault(cid, []).append((impact, since))
        for cid, started in source.maintenance():
            in_maintenance[cid] = max(filter(None, (in_maintenance.get(cid), started)), default=None)
        for cid, last in source.last_changes():
            if last is not None and (cid not in last_changes or last > last_changes[cid]):
                last_changes[cid] = last
    return impacts, in_maintenance, last_changes
