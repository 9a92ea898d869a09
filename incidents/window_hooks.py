"""What incidents adds to a maintenance window through the registries maintenance offers: the post-maintenance
summary's "Incidents linked" section. `register()` is called from `IncidentsConfig.ready()`."""

from __future__ import annotations

from maintenance.registry import SummaryLine, SummarySection, register_summary_section


def summary_lines(window) -> list[SummaryLine]:
    from incidents.models import Incident

    return [
        SummaryLine(label=f"{i.public_id} {i}", status=i.get_status_display())
        for i in Incident.objects.filter(maintenance_window=window).order_by("pk")
    ]


def register() -> None:
    register_summary_section(SummarySection(name="incidents", title="Incidents linked", lines=summary_lines, order=20))
