"""`record()`: the one function that writes audit events; `chain_pending()`: the sequencer that links them into
the hash chain; `audit_checkpoint()`: the witness of its head.

Call `record()` inside the transaction of the change it records, so that the event exists exactly when the change
committed. It only inserts the row: no lock, so audited writers run side by side like plain inserts. After the
commit, `chain_pending()` links every committed, unlinked event into the chain in one short step — one sequencer at a
time (a session advisory lock on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers anyway), whole batches
per step, so two processes never fork the chain and the serial point is a fraction of a millisecond per event instead
of the whole audited transaction. See the README's "Audit log" for the argument.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from ersen_ops.audit import policy, selectors, witness
from ersen_ops.audit.chain import content_digest, event_fields, link_hash
from ersen_ops.audit.choices import ANONYMOUS_ACTOR, SYSTEM_ACTOR_PREFIX, TOKEN_ACTOR_PREFIX, AuditAction
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.witness import WitnessLine
from ersen_ops.core import context
from ersen_ops.core.clients import request_client_ip

logger = logging.getLogger(__name__)

# Arbitrary constant naming the audit chain's advisory lock (held by the one sequencer at work).
_CHAIN_LOCK_KEY = 0x45525345  # "ERSE"
# Events linked per sequencer transaction: bounded memory, short transactions.
CHAIN_BATCH = 2000

Actor = AbstractBaseUser | str | None


def actor_fields(actor: Actor) -> tuple[Any, str]:
    """(user or None, display name) for a user, a system actor name ("system:…"), an API token ("token:…"),
    or nobody."""
    if actor is None:
        return None, SYSTEM_ACTOR_PREFIX
    if isinstance(actor, str):
        named = actor.startswith((SYSTEM_ACTOR_PREFIX, TOKEN_ACTOR_PREFIX))
        return None, actor if named else f"{SYSTEM_ACTOR_PREFIX}:{actor}"
    if getattr(actor, "is_authenticated", False):
        return actor, actor.get_username()
    return None, ANONYMOUS_ACTOR


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data if data is not None else {}, cls=DjangoJSONEncoder))


def record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    data: dict | None = None,
    request=None,
) -> AuditEvent:
    user, actor_name = actor_fields(actor)
    ctx = context.current()
    reauthentication = context.reauthentication()
    if reauthentication:  # inside a guarded production action (ersen_ops.core.access.reauth.reauthenticated)
        data = {**(data or {}), **reauthentication}
    api_token = context.api_token()
    if api_token:  # a call of the operations API: the user is the actor, the token says how they acted
        data = {**(data or {}), "api_token": api_token}
    request_id = getattr(request, "request_id", "") if request is not None else ctx.request_id
    # The client's address by the one rule (behind Traefik: its X-Forwarded-For entry, not the proxy's address).
    remote_addr = request_client_ip(request) if request is not None else ctx.remote_addr
    event = AuditEvent(
        created_at=timezone.now(),
        actor=user,
        actor_name=actor_name[:150],
        action=action,
        target_type=ContentType.objects.get_for_model(target, for_concrete_model=False) if target is not None else None,
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        data=_jsonable(data),
        request_id=request_id or "",
        remote_addr=remote_addr or None,
    )
    event.digest = content_digest(event_fields(event))
    event.save()
    # After the commit (at once in autocommit), link it and whatever else committed meanwhile; once per transaction.
    if not any(entry[1] is _chain_after_commit for entry in connection.run_on_commit):
        transaction.on_commit(_chain_after_commit, robust=True)
    return event


def _chain_after_commit() -> None:
    chain_pending()


def _link_batch_python() -> int:
    """SQLite (development): the same linking as the database function of migration 0004, in Python. IMMEDIATE
    transactions serialise writers, so the head read here cannot move before the commit."""
    with transaction.atomic():
        head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = head if head else (0, "")
        links = []
        for event_id, digest in AuditEvent.objects.filter(seq__isnull=True).order_by("id").values_list("id", "digest"):
            seq += 1
            links.append((seq, prev_hash, link_hash(prev_hash, digest), event_id))
            prev_hash = links[-1][2]
        with connection.cursor() as cursor:
            cursor.executemany("UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s", links)
        return len(links)


def chain_pending() -> int:
    """Link every committed event that is not in the chain yet; returns how many this call linked.

    On PostgreSQL, outside a transaction (the after-commit path), one round trip does it: the procedure
    `audit_link_until_done` (migration 0006) takes the chain's transaction-scoped advisory lock if it is free, links
    the unlinked committed events in id order after the head (each hash = sha256(prev hash, newline, digest)),
    commits, looks again for events committed meanwhile and repeats until none is left; if another sequencer holds
    the lock it returns at once. No event is left behind: whoever held the lock looks again after its commit, so it
    sees anything committed before a caller found the lock taken. Its links commit without waiting for the disk
    (the events were already durable; a lost link is linked again); the checkpoint makes the head durable before
    witnessing it. Inside a transaction (a test, a reader) the function of migration 0004 links what this
    transaction can see. The checkpoint and `audit_verify` call this too, as the safety net after a crash between an
    event's commit and its linking.
    """
    if connection.vendor != "postgresql":
        return _link_batch_python()
    with connection.cursor() as cursor:
        if not connection.in_atomic_block:
            cursor.execute("CALL audit_link_until_done(%s, %s)", [_CHAIN_LOCK_KEY, CHAIN_BATCH])
            return max(cursor.fetchone()[0], 0)
        linked = 0
        while True:
            cursor.execute("SELECT audit_link_pending(%s, %s)", [_CHAIN_LOCK_KEY, CHAIN_BATCH])
            count = cursor.fetchone()[0]
            if count < CHAIN_BATCH:
                return linked + max(count, 0)
            linked += count


def _make_durable() -> None:
    """Flush the write-ahead log up to now: a transaction with an id commits synchronously, and its commit record
    comes after every link committed so far (links commit without waiting for the disk, migration 0006)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = on")
        cursor.execute("SELECT txid_current()")


CHECKPOINT_ACTOR = "system:audit-checkpoint"


def audit_checkpoint(*, now=None) -> tuple[WitnessLine, str]:
    """Append the chain's head to the witness file; returns (the latest witness line, problem or "").

    First the table is compared with the previous line: if events the witness saw are gone, no new line is
    written (a shorter head must never become the latest witness), the mismatch is audited and logged, and
    the listeners (#team-ops) hear of it. Holds the file's lock throughout, so two runs never interleave.
    """
    now = (now or timezone.now()).replace(microsecond=0)  # the file's resolution
    chain_pending()  # the head must include everything committed so far
    with witness.locked_for_append() as fd:
        previous = witness.latest()
        problem = (
            policy.witness_problem(previous, selectors.witness_facts(previous.event_id, previous.count))
            if previous
            else ""
        )
        if problem:
            line = previous
            logger.error("audit log shorter than its witness: %s", problem)
            record(
                actor=CHECKPOINT_ACTOR,
                action=AuditAction.WITNESS_MISMATCH,
                data={"problem": problem, "witness": previous.format(), "file": str(witness.witness_path())},
            )
        else:
            head = selectors.chain_head()
            _make_durable()  # the witnessed head must survive a crash of the database
            line = WitnessLine(at=now, event_id=head.event_id, count=head.count, hash=head.hash)
            witness.append(fd, line)
    witness.tell_listeners(line=line, problem=problem)
    return line, problem
