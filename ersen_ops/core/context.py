"""Per-request context (request id, remote address) that the audit log picks up."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    remote_addr: str | None = None


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("ersen_request", default=RequestContext())


def current() -> RequestContext:
    return _current.get()


def set_current(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)
