"""Audit event names of the access layer (second factor, re-authentication, sessions)."""

from django.db import models


class AccessEvent(models.TextChoices):
    FACTOR_ADDED = "access.factor.added", "Second factor added"
    FACTOR_REMOVED = "access.factor.removed", "Second factor removed"
    RECOVERY_CODES_GENERATED = "access.recovery_codes.generated", "Recovery codes generated"
    RECOVERY_CODE_USED = "access.recovery_code.used", "Recovery code used"
    SESSION_REVOKED = "access.session.revoked", "Session ended by its user or a superuser"
