"""State changes of the operations API: tokens (create, revoke, use), rate counters, idempotency records."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from api import policy
from api.choices import ApiAction
from api.models import ApiToken, IdempotencyRecord, RateCounter
from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError, PermissionRefused


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


@transaction.atomic
def token_create(
    *, actor, name: str, scopes, days: int | None = None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new personal access token of `actor` (for themself only). Returns (token, the whole secret: show it once)."""
    now = _now(now)
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionRefused("Only a signed-in, active user can create an API token (for themself).")
    days = policy.default_days(max_days=settings.OPS_API_TOKEN_MAX_DAYS) if days is None else int(days)
    scopes = sorted(set(scopes))
    for problem in (
        policy.expiry_problem(days, max_days=settings.OPS_API_TOKEN_MAX_DAYS),
        policy.scope_problem(scopes),
    ):
        if problem:
            raise DomainError(problem, code="token")
    name = (name or "").strip()
    if not name:
        raise DomainError("Name the token (what it is for, e.g. “GitHub Actions deploy”).", code="token")
    prefix, raw = policy.new_token()
    token = ApiToken(
        user=actor,
        name=name[:100],
        prefix=prefix,
        secret_hash=policy.token_hash(raw),
        scopes=scopes,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    token.full_clean()
    token.save()
    record(
        actor=actor,
        action=ApiAction.TOKEN_CREATED,
        target=token,
        data={"prefix": prefix, "name": token.name, "scopes": scopes, "expires_at": token.expires_at},
    )
    return token, raw


@transaction.atomic
def token_revoke(*, actor, token: ApiToken, now: datetime | None = None) -> ApiToken:
    """Revoke a token (its owner, or someone allowed to change tokens). Revoking twice changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != getattr(actor, "pk", None) and not actor.has_perm("api.change_apitoken"):
        raise PermissionRefused("Only the token's owner (or a user allowed to change API tokens) can revoke it.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = _now(now)
    token.save(update_fields=["revoked_at"])
    record(actor=actor, action=ApiAction.TOKEN_REVOKED, target=token, data={"prefix": token.prefix})
    return token


class TokenRefused(Exception):
    """The presented token is unknown, malformed, expired, revoked, or its user is deactivated."""


def token_authenticate(*, raw: str, addr: str | None, now: datetime | None = None) -> ApiToken:
    """The usable token for a presented secret (with its user), recording the last use; raises TokenRefused."""
    now = _now(now)
    prefix = policy.split_token(raw)
    if prefix is None:
        raise TokenRefused("Malformed token: expected “Authorization: Bearer ersen_…”.")
    token = ApiToken.objects.select_related("user").filter(secret_hash=policy.token_hash(raw)).first()
    if token is None or token.prefix != prefix:
        raise TokenRefused("Unknown token.")
    problem = policy.refusal(
        revoked_at=token.revoked_at, expires_at=token.expires_at, user_active=token.user.is_active, now=now
    )
    if problem:
        raise TokenRefused(problem)
    if policy.should_record_use(
        last_used_at=token.last_used_at, last_used_addr=token.last_used_addr, addr=addr, now=now
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_addr=addr)
        token.last_used_at, token.last_used_addr = now, addr
    return token


def rate_limit_hit(*, token: ApiToken, now: datetime | None = None) -> policy.RateDecision:
    """Count one request of `token` in the current window; shared by all workers (database counter).

    One atomic upsert that returns the new count. On PostgreSQL its commit does not wait for the WAL flush
    (`synchronous_commit = off` for this transaction only): a crash may forget the last few increments, which a
    rate limit can afford, and every API call saves the flush (the largest part of this step's time)."""
    now = _now(now)
    window = timedelta(seconds=settings.OPS_API_RATE_WINDOW_SECONDS)
    start = policy.rate_window_start(now, window)
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            f"INSERT INTO {table} (token_id, window_start, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (token_id, window_start) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [token.pk, start],
        )
        count = cursor.fetchone()[0]
    return policy.rate_decision(count=count, limit=settings.OPS_API_RATE_LIMIT, now=now, window=window)


def api_records_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Rate counters older than two windows and idempotency records older than OPS_API_IDEMPOTENCY_HOURS."""
    now = _now(now)
    window = timedelta(seconds=settings.OPS_API_RATE_WINDOW_SECONDS)
    counters, _ = RateCounter.objects.filter(window_start__lt=now - 2 * window).delete()
    keys, _ = IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(hours=settings.OPS_API_IDEMPOTENCY_HOURS)
    ).delete()
    return {"rate_counters": counters, "idempotency_records": keys}
