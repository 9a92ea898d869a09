"""What the apps above maintenance add to a window: a panel on its admin page, a section of its summary.

Maintenance sits below runbooks and incidents and never imports them. They register here from their
`AppConfig.ready()` (as `register_channel()` and `schedules.py` work elsewhere); maintenance shows what is
registered, in `order`. Evidence for checklist items has its own registry: `maintenance.evidence`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowPanel:
    """A fieldset on the window's change page, rendered from `template` with `context(request, window)`."""

    name: str  # unique ("runbooks"); registering the same name again replaces it
    template: str
    context: Callable[..., dict | None]  # (request, window) -> the template's context, or None to show nothing
    order: int = 100


@dataclass(frozen=True)
class SummaryLine:
    """One record in a section of the post-maintenance summary: '- {label}: {status} — {detail}'."""

    label: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class SummarySection:
    """A titled list in the post-maintenance summary ('Runbook executions:', 'Incidents linked:')."""

    name: str  # unique; registering the same name again replaces it
    title: str
    lines: Callable[..., list[SummaryLine]]  # (window) -> its lines, oldest first
    order: int = 100


_panels: dict[str, WindowPanel] = {}
_sections: dict[str, SummarySection] = {}


def register_window_panel(panel: WindowPanel) -> None:
    _panels[panel.name] = panel


def window_panels() -> list[WindowPanel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.name))


def register_summary_section(section: SummarySection) -> None:
    _sections[section.name] = section


def summary_sections(window) -> list[tuple[str, list[SummaryLine]]]:
    """Every registered section of `window`'s summary as (title, lines), in order."""
    return [(s.title, s.lines(window)) for s in sorted(_sections.values(), key=lambda s: (s.order, s.name))]
