"""Token, rate-counter and idempotency-record services without HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api import policy, services
from api.models import IdempotencyRecord, RateCounter
from ersen_ops.core.errors import DomainError, PermissionRefused
from ersen_ops.core.scheduling import declared

pytestmark = pytest.mark.django_db


def test_tokens_have_a_visible_prefix_and_only_their_hash_is_stored(users):
    token, raw = services.token_create(actor=users["viewer"], name="ci", scopes=["read"])
    assert raw.startswith(token.prefix + "_") and policy.split_token(raw) == token.prefix
    assert token.secret_hash == policy.token_hash(raw) and raw not in token.secret_hash
    assert (token.expires_at - token.created_at) == timedelta(days=90)
    assert services.token_authenticate(raw=raw, addr="10.0.0.1") == token
    with pytest.raises(services.TokenRefused):
        services.token_authenticate(raw=raw[:-1] + ("A" if raw[-1] != "A" else "B"), addr=None)


def test_token_rules_name_the_numbers(users, settings):
    settings.OPS_API_TOKEN_MAX_DAYS = 30
    with pytest.raises(DomainError, match="at most 30 days"):
        services.token_create(actor=users["viewer"], name="ci", scopes=["read"], days=31)
    with pytest.raises(DomainError, match="Unknown scope 'admin'"):
        services.token_create(actor=users["viewer"], name="ci", scopes=["admin"])
    with pytest.raises(PermissionRefused):
        services.token_create(actor="system:test", name="ci", scopes=["read"])


def test_only_the_owner_revokes(users):
    token, _ = services.token_create(actor=users["viewer"], name="ci", scopes=["read"])
    with pytest.raises(PermissionRefused):
        services.token_revoke(actor=users["operator"], token=token)
    services.token_revoke(actor=users["admin"], token=token)  # a superuser may
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_last_use_is_written_at_most_once_a_minute_per_address(users, django_assert_num_queries):
    token, raw = services.token_create(actor=users["viewer"], name="ci", scopes=["read"])
    services.token_authenticate(raw=raw, addr="10.0.0.1")
    with django_assert_num_queries(1):  # the lookup only: no write within the minute from the same address
        services.token_authenticate(raw=raw, addr="10.0.0.1")
    with django_assert_num_queries(2):
        services.token_authenticate(raw=raw, addr="10.0.0.2")


def test_purge_keeps_current_counters_and_recent_keys(users, settings):
    settings.OPS_API_RATE_WINDOW_SECONDS = 60
    token, _ = services.token_create(actor=users["viewer"], name="ci", scopes=["read"])
    now = timezone.now()
    RateCounter.objects.create(token=token, window_start=now - timedelta(hours=1), count=5)
    RateCounter.objects.create(token=token, window_start=now, count=1)
    old = IdempotencyRecord.objects.create(token=token, key="old", fingerprint="x", status_code=201)
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=25))
    IdempotencyRecord.objects.create(token=token, key="new", fingerprint="x", status_code=201)
    assert services.api_records_purge(now=now) == {"rate_counters": 1, "idempotency_records": 1}
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert "api.purge" in {s.name for s in declared()}


def test_rate_decision_counts_the_window():
    now = timezone.now()
    window = timedelta(seconds=60)
    assert policy.rate_decision(count=3, limit=3, now=now, window=window).allowed
    refused = policy.rate_decision(count=4, limit=3, now=now, window=window)
    assert not refused.allowed and refused.remaining == 0 and 1 <= refused.reset_seconds <= 60


def test_fingerprint_ignores_whitespace_and_key_order():
    a = policy.fingerprint(method="POST", path="/x", body=b'{"a": 1, "b": 2}')
    assert a == policy.fingerprint(method="POST", path="/x", body=b'{"b":2,"a":1}')
    assert a != policy.fingerprint(method="POST", path="/x", body=b'{"a": 1, "b": 3}')
    assert a != policy.fingerprint(method="POST", path="/y", body=b'{"a": 1, "b": 2}')
