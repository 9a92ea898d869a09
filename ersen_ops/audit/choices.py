"""Names of the events the audit app itself records."""

from django.db import models


class AuditAction(models.TextChoices):
    # The checkpoint found the table shorter than its witness (events deleted or truncated).
    WITNESS_MISMATCH = "audit.witness_mismatch", "Audit log shorter than its witness"


class ActorKind(models.TextChoices):
    """Who did it: a signed-in person, the system (tasks, sweepers, the CLI, public forms) or an API token."""

    PERSON = "person", "People"
    SYSTEM = "system", "System"
    TOKEN = "token", "API tokens"


# How record() names actors that are not users: "system:<what>", and "token:<name>" for API tokens.
SYSTEM_ACTOR_PREFIX = "system"
TOKEN_ACTOR_PREFIX = "token:"
ANONYMOUS_ACTOR = "anonymous"  # a visitor who is not signed in: a person, not the system
