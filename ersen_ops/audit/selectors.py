"""Reading the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Count, Max, Min, Q

from ersen_ops.audit.chain import expected_hash
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


def audit_chain_problems(*, after: ChainHead | None = None, progress=None) -> Iterator[tuple[AuditEvent, str]]:
    """Yield (event, problem) for each event that breaks the chain, in chain order.

    Streams in keyset pages of `CHUNK` events (bounded memory however long the log). `after`: start behind a
    head already verified (the latest witness), so a daily run reads only what is new. `progress(seq)` is called
    after each page. Events committed but not linked yet (milliseconds old) are not part of the chain yet.
    """
    prev_hash = after.hash if after else ""
    prev_seq = after.count if after else 0
    prev_id = after.event_id if after else None
    while True:
        page = list(AuditEvent.objects.filter(seq__gt=prev_seq).order_by("seq")[:CHUNK])
        for event in page:
            if event.prev_hash != prev_hash:
                before = f"event #{prev_id}" if prev_id else "the start of the log"
                yield (
                    event,
                    (
                        f"its predecessor is missing or altered: prev_hash {event.prev_hash[:12] or '(empty)'} "
                        f"does not match the hash of {before} ({prev_hash[:12] or '(empty)'})"
                    ),
                )
            if expected_hash(event) != event.hash:
                yield event, "its hash does not match its content (the row was altered)"
            if event.seq != prev_seq + 1:
                gap = f"position {prev_seq + 1}" if event.seq == prev_seq + 2 else f"positions {prev_seq + 1}–{event.seq - 1}"
                yield event, f"chain {gap} missing before it (chain positions are consecutive)"
            prev_hash, prev_seq, prev_id = event.hash, event.seq, event.id
        if progress is not None and page:
            progress(prev_seq)
        if len(page) < CHUNK:
            return


@dataclass(frozen=True)
class ChainHead:
    event_id: int  # 0: the log is empty
    hash: str
    count: int  # the head's position in the chain = how many events the chain holds up to it


CHUNK = 2000


def chain_head() -> ChainHead:
    """The newest linked event and its position in the chain (positions are 1, 2, 3, … in chain order)."""
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("id", "hash", "seq").first()
    if head is None:
        return ChainHead(event_id=0, hash="", count=0)
    return ChainHead(event_id=head[0], hash=head[1], count=head[2])


def unlinked_count() -> int:
    return AuditEvent.objects.filter(seq__isnull=True).count()


def witness_facts(event_id: int, position: int) -> WitnessFacts:
    """What the table holds around a witnessed head (event `event_id` at chain position `position`), in two queries.

    "Up to" the head means both at or before its chain position and at or before its id: an event linked after the
    witness (a later position) never counts as missing before it, whatever its id, and an event appended after a
    deleted head (which takes over the deleted one's position) still shows as newer, by its id.
    """
    up_to = Q(seq__lte=position, id__lte=event_id)
    after = Q(seq__isnull=False) & ~up_to
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
