"""`record()`: the one function that writes audit events; `audit_checkpoint()`: the witness of its head.

Call it inside the transaction of the change it records, so that the event
exists exactly when the change committed. Appends are serialised (a
transaction-scoped advisory lock on PostgreSQL; SQLite's IMMEDIATE
transactions already serialise writers) so two processes never fork the chain.
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
from ersen_ops.audit.chain import compute_hash, event_fields
from ersen_ops.audit.choices import ANONYMOUS_ACTOR, SYSTEM_ACTOR_PREFIX, TOKEN_ACTOR_PREFIX, AuditAction
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.witness import WitnessLine
from ersen_ops.core import context
from ersen_ops.core.clients import request_client_ip

logger = logging.getLogger(__name__)

# Arbitrary constant naming the audit chain's advisory lock.
_CHAIN_LOCK_KEY = 0x45525345  # "ERSE"

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
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or ""
        event.prev_hash = prev_hash
        event.hash = compute_hash(prev_hash, event_fields(event))
        event.save()
    return event


CHECKPOINT_ACTOR = "system:audit-checkpoint"


def audit_checkpoint(*, now=None) -> tuple[WitnessLine, str]:
    """Append the chain's head to the witness file; returns (the latest witness line, problem or "").

    First the table is compared with the previous line: if events the witness saw are gone, no new line is
    written (a shorter head must never become the latest witness), the mismatch is audited and logged, and
    the listeners (#team-ops) hear of it. Holds the file's lock throughout, so two runs never interleave.
    """
    now = (now or timezone.now()).replace(microsecond=0)  # the file's resolution
    with witness.locked_for_append() as fd:
        previous = witness.latest()
        problem = policy.witness_problem(previous, selectors.witness_facts(previous.event_id)) if previous else ""
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
            line = WitnessLine(at=now, event_id=head.event_id, count=head.count, hash=head.hash)
            witness.append(fd, line)
    witness.tell_listeners(line=line, problem=problem)
    return line, problem
