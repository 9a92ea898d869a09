"""Reading the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Count, Max, Min, Q

from ersen_ops.audit.chain import compute_hash, event_fields
from ersen_ops.audit.choices import ANONYMOUS_ACTOR, TOKEN_ACTOR_PREFIX, ActorKind
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.policy import WitnessFacts


def actor_kind_q(kind: str) -> Q:
    """The rows of one actor kind, as policy.actor_kind classifies a single event."""
    person = Q(actor__isnull=False) | Q(actor_name=ANONYMOUS_ACTOR)
    token = Q(actor__isnull=True, actor_name__startswith=TOKEN_ACTOR_PREFIX)
    return {ActorKind.PERSON: person, ActorKind.TOKEN: token, ActorKind.SYSTEM: ~person & ~token}[ActorKind(kind)]


def audit_recent(*, limit: int, kinds=None):
    """The newest events, of the given actor kinds only (all kinds by default)."""
    events = AuditEvent.objects.order_by("-id")
    if kinds is not None:
        query = Q(pk__in=[])
        for kind in kinds:
            query |= actor_kind_q(kind)
        events = events.filter(query)
    return events[:limit]


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
            yield (
                event,
                (
                    f"its predecessor is missing or altered: prev_hash {event.prev_hash[:12] or '(empty)'} "
                    f"does not match the hash of {after} ({prev_hash[:12] or '(empty)'})"
                ),
            )
        if compute_hash(event.prev_hash, event_fields(event)) != event.hash:
            yield event, "its hash does not match its content (the row was altered)"
        prev_hash = event.hash
        prev_id = event.id


@dataclass(frozen=True)
class ChainHead:
    event_id: int  # 0: the log is empty
    hash: str
    count: int


def chain_head() -> ChainHead:
    """The newest event and how many events there are up to it.

    Counting only up to the head's id keeps the two consistent although they are two queries: appends are
    serialised and commit in id order, so nothing older than the head can still arrive.
    """
    head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    if head is None:
        return ChainHead(event_id=0, hash="", count=0)
    return ChainHead(event_id=head[0], hash=head[1], count=AuditEvent.objects.filter(id__lte=head[0]).count())


def witness_facts(event_id: int) -> WitnessFacts:
    """What the table holds around a witnessed head, in two queries."""
    up_to, after = Q(id__lte=event_id), Q(id__gt=event_id)
    facts = AuditEvent.objects.order_by().aggregate(
        count_up_to=Count("id", filter=up_to),
        last_id_up_to=Max("id", filter=up_to),
        first_id_after=Min("id", filter=after),
        count_after=Count("id", filter=after),
    )
    return WitnessFacts(
        head_hash=AuditEvent.objects.filter(id=event_id).values_list("hash", flat=True).first(),
        **facts,
    )
