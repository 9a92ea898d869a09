"""Incidents for tests, opened through the real service (so due times, pages and audit are real)."""

from __future__ import annotations

from datetime import datetime

from incidents.choices import Impact, Level
from incidents.services import incident_open
from tests.factories import ComponentFactory, UserFactory


def open_incident(*, level: str = Level.P2, title: str | None = None, actor=None, now: datetime | None = None, components=None, **kwargs):
    actor = actor or UserFactory(username="opener")
    if components is None:
        components = {ComponentFactory(name="API"): Impact.PARTIAL_OUTAGE}
    return incident_open(
        actor=actor, title=title or f"{level} trouble", level=level, components=components, now=now, **kwargs
    )
