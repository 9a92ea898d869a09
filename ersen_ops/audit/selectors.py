"""Reading the audit log."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.contenttypes.models import ContentType
from django.db import models

from ersen_ops.audit.chain import compute_hash, event_fields
from ersen_ops.audit.models import AuditEvent


def audit_events_for(obj: models.Model, *, limit: int = 50):
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    return AuditEvent.objects.filter(target_type=ct, target_id=str(obj.pk)).select_related("actor")[:limit]


def audit_chain_problems() -> Iterator[tuple[AuditEvent, str]]:
    """Yield (event, problem) for each event that breaks the chain, oldest first."""
    prev_hash = ""
    prev_id = None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev_hash:
            after = f"event #{prev_id}" if prev_id else "the start of the log"
            yield event, (
                f"its predecessor is missing or altered: prev_hash {event.prev_hash[:12] or '(empty)'} "
                f"does not match the hash of {after} ({prev_hash[:12] or '(empty)'})"
            )
        if compute_hash(event.prev_hash, event_fields(event)) != event.hash:
            yield event, "its hash does not match its content (the row was altered)"
        prev_hash = event.hash
        prev_id = event.id
