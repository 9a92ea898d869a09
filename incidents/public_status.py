"""What incidents tell the status about its components (registered in `IncidentsConfig.ready()`)."""

from __future__ import annotations

from django.db.models import Max

from ersen_ops.status.sources import ComponentSource
from incidents.models import IncidentComponent


def open_impacts():
    """(component pk, impact, opened at) of every unresolved incident (1 query)."""
    return IncidentComponent.objects.filter(incident__resolved_at__isnull=True).values_list(
        "component_id", "impact", "incident__opened_at"
    )


def last_resolved():
    """(component pk, when an incident on it last resolved) (1 query)."""
    return (
        IncidentComponent.objects.filter(incident__resolved_at__isnull=False)
        .order_by()
        .values("component_id")
        .annotate(last=Max("incident__resolved_at"))
        .values_list("component_id", "last")
    )


SOURCE = ComponentSource(name="incidents", impacts=open_impacts, last_changes=last_resolved)
