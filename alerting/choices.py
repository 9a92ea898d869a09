"""Alert intake enumerations: where alerts come from, what the portal did with each one, a group's state."""

from django.db import models


class Source(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager (webhook v4)"
    GRAFANA = "grafana", "Grafana alerting (webhook)"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Outcome(models.TextChoices):
    """What one received alert did."""

    OPENED = "opened", "Opened an incident"
    JOINED = "joined", "Joined the group's open incident"
    REPEATED = "repeated", "Already firing (repeat notification)"
    RESOLVED = "resolved", "Resolved within its group"
    SUPPRESSED = "suppressed", "Suppressed: maintenance in progress"
    UNKNOWN_RESOLVED = "unknown_resolved", "Resolved, but never seen firing"


OUTCOME_COLOURS = {
    Outcome.OPENED: "#c62828",
    Outcome.JOINED: "#ef6c00",
    Outcome.REPEATED: "#757575",
    Outcome.RESOLVED: "#2e7d32",
    Outcome.SUPPRESSED: "#1565c0",
    Outcome.UNKNOWN_RESOLVED: "#9e9e9e",
}


class GroupStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    QUIET = "quiet", "All resolved, waiting out the quiet period"
    CLOSED = "closed", "Closed"


TRANSITIONS: dict[str, tuple[str, ...]] = {
    GroupStatus.FIRING: (GroupStatus.QUIET, GroupStatus.CLOSED),
    GroupStatus.QUIET: (GroupStatus.FIRING, GroupStatus.CLOSED),
    GroupStatus.CLOSED: (),
}

OPEN_GROUP_STATUSES = (GroupStatus.FIRING, GroupStatus.QUIET)
