"""Status-page enumerations, exactly as the Statuspage v2 wire format spells them."""

from django.db import models


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"


# Badge colours for the admin and the public page (text is always shown too).
COMPONENT_STATUS_COLOURS = {
    ComponentStatus.OPERATIONAL: "#2e7d32",
    ComponentStatus.DEGRADED_PERFORMANCE: "#f9a825",
    ComponentStatus.PARTIAL_OUTAGE: "#ef6c00",
    ComponentStatus.MAJOR_OUTAGE: "#c62828",
    ComponentStatus.UNDER_MAINTENANCE: "#1565c0",
}
