"""Pure rules of the operations API: token format, expiry, scopes, rate windows, idempotency fingerprints."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.choices import TokenScope

TOKEN_PREFIX = "ersen_"
_PREFIX_CHARS = 8  # after "ersen_": what lists and audit events show
_SECRET_BYTES = 24  # 192 bits


def new_token() -> tuple[str, str]:
    """(visible prefix, whole token). The whole token is shown once and never stored."""
    prefix = TOKEN_PREFIX + secrets.token_hex(_PREFIX_CHARS // 2)
    return prefix, f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def split_token(raw: str) -> str | None:
    """The prefix of a well-formed token ("ersen_" + 8 hex + "_" + secret), or None."""
    size = len(TOKEN_PREFIX) + _PREFIX_CHARS
    if not raw.startswith(TOKEN_PREFIX) or len(raw) < size + 21 or raw[size] != "_":
        return None
    return raw[:size]


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


DEFAULT_DAYS = 90


def default_days(*, max_days: int) -> int:
    """90 days, or the maximum when that is shorter."""
    return min(DEFAULT_DAYS, max_days)


def expiry_problem(days: int, *, max_days: int) -> str:
    if days < 1:
        return f"A token must be valid for at least 1 day (asked for {days})."
    if days > max_days:
        return f"A token may be valid for at most {max_days} days (OPS_API_TOKEN_MAX_DAYS); asked for {days}."
    return ""


def scope_problem(scopes) -> str:
    unknown = sorted(set(scopes) - set(TokenScope.values))
    if unknown:
        return f"Unknown scope {unknown[0]!r}; the scopes are {', '.join(TokenScope.values)}."
    if not scopes:
        return f"Choose at least one scope ({', '.join(TokenScope.values)})."
    return ""


def refusal(*, revoked_at: datetime | None, expires_at: datetime, user_active: bool, now: datetime) -> str:
    """Why a known token may not be used now ("" when it may)."""
    if revoked_at is not None:
        return f"This token was revoked at {revoked_at:%Y-%m-%d %H:%M} UTC."
    if expires_at <= now:
        return f"This token expired at {expires_at:%Y-%m-%d %H:%M} UTC; create a new one in the admin."
    if not user_active:
        return "The token's user is deactivated."
    return ""


# Last use is written at most this often per token (a CI polling every second would otherwise write every call).
LAST_USE_GRANULARITY = timedelta(seconds=60)


def should_record_use(*, last_used_at: datetime | None, last_used_addr: str | None, addr: str | None, now) -> bool:
    return last_used_at is None or last_used_addr != addr or now - last_used_at >= LAST_USE_GRANULARITY


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


def rate_window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def rate_decision(*, count: int, limit: int, now: datetime, window: timedelta) -> RateDecision:
    reset = rate_window_start(now, window) + window - now
    return RateDecision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_seconds=max(1, int(reset.total_seconds() + 0.999)),
    )


def fingerprint(*, method: str, path: str, body: bytes) -> str:
    """The same request in other whitespace or key order has the same fingerprint."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


IDEMPOTENCY_KEY_MAX = 255
