"""The hash chain: an event's content digest, linked to its predecessor's hash.

Since the chain is linked at commit (migration 0004, services.chain_pending) an event's hash is
`sha256(prev_hash + "\\n" + digest)`, where `digest` is the SHA-256 of its canonical content, computed when it is
recorded: the sequencer then links a batch in one database statement without reading the events' content.
Events recorded before that have no digest and were hashed as `sha256(prev_hash + "\\n" + canonical content)`;
both are verified.
"""

from __future__ import annotations

import hashlib
import json


def canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_fields(event) -> dict:
    """The hashed content of an event (everything but the chain's own columns)."""
    return {
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type_id,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "data": event.data,
        "request_id": event.request_id,
        "remote_addr": event.remote_addr,
    }


def content_digest(fields: dict) -> str:
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def link_hash(prev_hash: str, digest: str) -> str:
    """What the sequencer computes (in SQL on PostgreSQL: the same bytes, see migration 0004)."""
    return hashlib.sha256((prev_hash + "\n" + digest).encode("utf-8")).hexdigest()


def compute_hash(prev_hash: str, fields: dict) -> str:
    """The hash of an event recorded before the digest existed (and of the chain's first design)."""
    return hashlib.sha256((prev_hash + "\n" + canonical(fields)).encode("utf-8")).hexdigest()


def expected_hash(event) -> str:
    """The hash an intact event has, given its stored predecessor hash and its content as it is now."""
    fields = event_fields(event)
    if event.digest:
        return link_hash(event.prev_hash, content_digest(fields))
    return compute_hash(event.prev_hash, fields)
