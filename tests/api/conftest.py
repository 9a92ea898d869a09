"""The operations API through real HTTP: pytest-django's live server (a real socket, a server thread)."""

from __future__ import annotations

import pytest
import requests

from api import services


class ApiClient:
    """requests against the live server's /api/ops/v1/ with one token."""

    def __init__(self, base: str, token: str | None):
        self.base = base.rstrip("/") + "/api/ops/v1/"
        self.token = token
        self.session = requests.Session()

    def _headers(self, headers):
        out = {"Accept": "application/json"}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        out.update(headers or {})
        return out

    def get(self, path: str, params=None, headers=None):
        return self.session.get(self.base + path, params=params, headers=self._headers(headers), timeout=30)

    def post(self, path: str, json=None, headers=None, data=None):
        return self.session.post(self.base + path, json=json, data=data, headers=self._headers(headers), timeout=30)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def make_token(transactional_db):
    def make(user, scopes=("read",), days=None, name="test token"):
        token, raw = services.token_create(actor=user, name=name, scopes=list(scopes), days=days)
        return token, raw

    return make


@pytest.fixture
def role_users(transactional_db):
    from tests.factories import make_role_users

    return make_role_users()


@pytest.fixture
def api_as(live_server, make_token):
    """api_as(user, *scopes) → an ApiClient with a new token of `user` carrying `scopes` (default: all)."""

    def client(user, *scopes):
        from api.choices import TokenScope

        _, raw = make_token(user, scopes or TokenScope.values)
        return ApiClient(live_server.url, raw)

    return client


@pytest.fixture
def anonymous_api(live_server):
    return ApiClient(live_server.url, None)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:ersen-ops:problem:")
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
