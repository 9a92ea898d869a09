"""Texts of the incident notifications (subject, body), rendered from templates/incidents/notifications/.

Only facts that may leave the admin go in: level, status, components, times, commander, the public
update texts. Internal notes and non-public updates are never passed to these templates.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from ersen_ops.audit.services import actor_fields
from incidents.policy import LEVELS


def _actor_name(actor) -> str:
    return actor_fields(actor)[1]


def render(kind: str, incident, *, actor=None, **context) -> str:
    impacts = list(incident.component_impacts.select_related("component"))
    return render_to_string(
        f"incidents/notifications/{kind}.txt",
        {
            "incident": incident,
            "policy": LEVELS[incident.level],
            "impacts": impacts,
            "actor_name": _actor_name(actor),
            **context,
        },
    ).strip()


def subject(incident, what: str) -> str:
    return f"[{incident.level}] {what}: {incident.title}"
