"""Health-check enumerations: types, states, HTTP methods, rollup periods."""

from django.db import models


class CheckType(models.TextChoices):
    HTTP = "http", "HTTP(S)"
    TCP = "tcp", "TCP connect"
    TLS = "tls", "TLS certificate"
    HEARTBEAT = "heartbeat", "Heartbeat (a job calls a secret URL)"


class HeartbeatSource(models.TextChoices):
    """Who gives a heartbeat check its beats."""

    URL = "url", "A job calls the check's secret URL"
    VERIFIED_BACKUP = "verified_backup", "Each verified backup with a verified off-host copy (recorded by the runbooks)"


class CheckState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown (not run yet)"
    UP = "up", "Up"
    DOWN = "down", "Down"


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"


class RollupPeriod(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class AutomationState(models.TextChoices):
    """The life of one incident the checks opened (one per outage of one check)."""

    OPEN = "open", "Open (the check is down)"
    RECOVERED = "recovered", "Recovered (waiting for the quiet period)"
    RESOLVED = "resolved", "Resolved by the checks"
    TAKEN_OVER = "taken_over", "Taken over by an operator"


STATE_COLOURS = {
    CheckState.UNKNOWN: "#757575",
    CheckState.UP: "#2e7d32",
    CheckState.DOWN: "#c62828",
}
