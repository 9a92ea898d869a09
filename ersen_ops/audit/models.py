"""AuditEvent: the append-only, hash-chained record of everything operators and tasks do."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


class AuditEvent(models.Model):
    created_at = models.DateTimeField(db_index=True)
    # PROTECT: a user with history is deactivated, never deleted (the trigger forbids SET NULL too).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_name = models.CharField(max_length=150, help_text="Username, or a system actor such as system:worker")
    action = models.CharField(max_length=100)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    # The chain (see services.chain_pending): set once, by the sequencer, in the order events committed.
    # Until then (milliseconds after the commit) all three are empty; the database lets only that one
    # change through (migration 0004), from empty to set, nothing else on the row.
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    # SHA-256 of the content (chain.content_digest), computed by record(); empty for events from before 0004.
    digest = models.CharField(max_length=64, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "id"], name="audit_target_idx"),
            # The admin's filters, in its order (newest first) without a sort (the search's trigram index: 0005).
            models.Index(fields=["action", "id"], name="audit_action_idx"),
            models.Index(fields=["actor_name", "id"], name="audit_actor_idx"),
            # The sequencer's work list: the few events committed but not chained yet.
            models.Index(fields=["id"], name="audit_unchained_idx", condition=models.Q(seq__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_name} {self.action} {self.target_repr}".strip()

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: an existing event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")
