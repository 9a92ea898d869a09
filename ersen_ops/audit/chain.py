"""The hash chain: canonical JSON of an event, hashed with its predecessor's hash."""

from __future__ import annotations

import hashlib
import json


def canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_fields(event) -> dict:
    """The hashed content of an event (everything but the hashes themselves)."""
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


def compute_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(fields)).encode("utf-8")).hexdigest()
