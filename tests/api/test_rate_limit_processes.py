"""The per-token rate limit holds across server processes: two gunicorn servers on one database share the count."""

from __future__ import annotations

import pytest
import requests

from api import services
from tests.core.test_lockout_processes import Server
from tests.factories import UserFactory

LIMIT = 4


@pytest.fixture
def two_servers(transactional_postgres, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_API_RATE_LIMIT", str(LIMIT))
    monkeypatch.setenv("OPS_API_RATE_WINDOW_SECONDS", "3600")
    servers = [Server(tmp_path / f"gunicorn-{n}.log") for n in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_requests_split_between_two_servers_share_one_limit(two_servers):
    _, raw = services.token_create(actor=UserFactory(username="ci"), name="ci", scopes=["read"])
    first, second = two_servers
    headers = {"Authorization": f"Bearer {raw}"}
    answers = [requests.get(s.url + "/api/ops/v1/me", headers=headers, timeout=30) for s in [first, second] * LIMIT]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429] * LIMIT
    assert [a.headers["RateLimit-Remaining"] for a in answers[:LIMIT]] == [str(n) for n in reversed(range(LIMIT))]
    refused = answers[-1]
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    other = services.token_create(actor=UserFactory(username="other"), name="x", scopes=["read"])[1]
    assert requests.get(second.url + "/api/ops/v1/me", headers={"Authorization": f"Bearer {other}"}, timeout=30).ok
