"""Incidents for tests, opened through the real service (so due times, pages and audit are real)."""

from __future__ import annotations

from datetime import datetime

import factory
from django.contrib.auth.models import Group

from ersen_ops.core import roles
from incidents.choices import Impact, Level
from incidents.services import incident_open
from tests.factories import ComponentFactory, UserFactory, user_with_role


def open_incident(*, level: str = Level.P2, title: str | None = None, actor=None, now: datetime | None = None, components=None, **kwargs):
    actor = actor or user_with_role("opener", roles.INCIDENT_COMMANDERS)
    if components is None:
        components = {ComponentFactory(name="API"): Impact.PARTIAL_OUTAGE}
    return incident_open(
        actor=actor, title=title or f"{level} trouble", level=level, components=components, now=now, **kwargs
    )


class CommanderFactory(UserFactory):
    """A user in the Incident commanders role: allowed every incident service (they check permissions)."""

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create:
            roles.sync_roles()
            user.groups.add(Group.objects.get(name=roles.INCIDENT_COMMANDERS))
