"""Per-request context (request id, remote address, a re-authentication just checked, the API token of the call)
that the audit log picks up."""

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


# Set by the operations API (api.framework) around a call made with a personal access token: audit events name it.
_api_token: contextvars.ContextVar[str | None] = contextvars.ContextVar("ersen_api_token", default=None)


def api_token() -> str | None:
    return _api_token.get()


def set_api_token(label: str) -> contextvars.Token:
    return _api_token.set(label)


def reset_api_token(token: contextvars.Token) -> None:
    _api_token.reset(token)
