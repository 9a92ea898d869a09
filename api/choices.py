"""Enumerations of the operations API: token scopes and the names of its audit events."""

from django.db import models


class TokenScope(models.TextChoices):
    """What a personal access token may be used for (on top of its user's permissions, never instead of them)."""

    READ = "read", "Read (components, windows, incidents, executions, audit, deliveries)"
    MAINTENANCE = "maintenance", "Maintenance windows (create, schedule, start, ETA, complete, approve)"
    INCIDENTS = "incidents", "Incidents (open, update, acknowledge, level, resolve)"
    RUNBOOKS = "runbooks", "Runbooks (launch, cancel)"
    STATUS = "status", "Component status (set the manual status)"


class ApiAction(models.TextChoices):
    TOKEN_CREATED = "api.token.created", "API token created"
    TOKEN_REVOKED = "api.token.revoked", "API token revoked"
