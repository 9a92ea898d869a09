"""Per-request context (request id, remote address, a re-authentication just checked) that the audit log picks up."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    remote_addr: str | None = None


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("ersen_request", default=None)


def current() -> RequestContext:
    return _current.get() or _EMPTY


def set_current(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


# Set by ersen_ops.core.access.reauth.reauthenticated() around a guarded action: what the audit events say about it.
_reauthentication: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ersen_reauthentication", default=None)


def reauthentication() -> dict | None:
    return _reauthentication.get()


def set_reauthentication(proof: dict) -> contextvars.Token:
    return _reauthentication.set(dict(proof))


def reset_reauthentication(token: contextvars.Token) -> None:
    _reauthentication.reset(token)
