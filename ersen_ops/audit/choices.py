"""Names of the events the audit app itself records."""

from django.db import models


class AuditAction(models.TextChoices):
    # The checkpoint found the table shorter than its witness (events deleted or truncated).
    WITNESS_MISMATCH = "audit.witness_mismatch", "Audit log shorter than its witness"
