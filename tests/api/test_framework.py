"""Tokens, scopes, problem details, rate limits and the audit trail of API calls, through real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from ersen_ops.audit.models import AuditEvent
from ersen_ops.status.models import Component
from tests.api.conftest import ApiClient, assert_problem

pytestmark = pytest.mark.django_db(transaction=True)


def test_whoami_names_the_user_and_the_token(api_as, role_users):
    api = api_as(role_users["viewer"], "read")
    response = api.get("me")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "viewer"
    assert body["token"]["scopes"] == ["read"]
    assert "status.view_component" in body["permissions"]
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.last_used_addr == "127.0.0.1"
    assert response.headers["RateLimit-Limit"]


def test_no_token_is_a_401_problem_with_the_bearer_challenge(anonymous_api):
    response = anonymous_api.get("components")
    body = assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["instance"] == "/api/ops/v1/components"


def test_unknown_and_malformed_tokens_are_refused(live_server, role_users):
    assert_problem(ApiClient(live_server.url, "ersen_deadbeef_" + "x" * 32).get("me"), 401, "authentication_failed")
    assert_problem(ApiClient(live_server.url, "not-a-token").get("me"), 401, "authentication_failed")


def test_revoked_token_is_refused(live_server, role_users, make_token):
    from api import services

    token, raw = make_token(role_users["viewer"])
    api = ApiClient(live_server.url, raw)
    assert api.get("me").status_code == 200
    services.token_revoke(actor=role_users["viewer"], token=token)
    body = assert_problem(api.get("me"), 401, "authentication_failed")
    assert "revoked" in body["detail"]
    assert AuditEvent.objects.filter(action="api.token.revoked", actor=role_users["viewer"]).exists()


def test_expired_token_is_refused(live_server, role_users, make_token):
    token, raw = make_token(role_users["viewer"], days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = assert_problem(ApiClient(live_server.url, raw).get("me"), 401, "authentication_failed")
    assert "expired" in body["detail"]


def test_deactivated_user_token_is_refused(live_server, role_users, make_token):
    _, raw = make_token(role_users["operator"])
    role_users["operator"].is_active = False
    role_users["operator"].save()
    assert_problem(ApiClient(live_server.url, raw).get("me"), 401, "authentication_failed")


def test_token_out_of_scope_is_a_403_naming_the_scope(api_as, role_users):
    component = Component.objects.create(name="API")
    api = api_as(role_users["operator"], "read")
    body = assert_problem(api.post(f"components/{component.public_id}/status", {"status": "major_outage"}), 403)
    assert "status" in body["detail"]
    component.refresh_from_db()
    assert component.status == "operational"


def test_token_never_exceeds_its_users_role_at_call_time(api_as, role_users):
    component = Component.objects.create(name="API")
    viewer = role_users["viewer"]
    api = api_as(viewer, "read", "status")  # the status scope, but the Viewers role cannot change components
    body = assert_problem(api.post(f"components/{component.public_id}/status", {"status": "major_outage"}), 403)
    assert "status.change_component" in body["detail"]
    operator = role_users["operator"]
    api = api_as(operator, "read", "status")
    assert api.post(f"components/{component.public_id}/status", {"status": "major_outage"}).status_code == 200
    operator.groups.clear()  # the role taken away: the same token can no longer read either
    assert_problem(api.get(f"components/{component.public_id}"), 403)


def test_every_call_audits_the_user_and_the_token(api_as, role_users):
    component = Component.objects.create(name="API")
    api = api_as(role_users["operator"], "read", "status")
    response = api.post(f"components/{component.public_id}/status", {"status": "partial_outage"})
    assert response.status_code == 200, response.text
    event = AuditEvent.objects.get(action="status.component.updated")
    token = ApiToken.objects.get(user=role_users["operator"])
    assert event.actor == role_users["operator"]
    assert event.data["api_token"] == token.label
    assert event.data["after"] == {"status": "partial_outage"}
    assert event.remote_addr == "127.0.0.1"


def test_unknown_path_is_a_problem_404(api_as, role_users):
    assert_problem(api_as(role_users["viewer"]).get("no/such/thing"), 404, "not_found")
    assert_problem(api_as(role_users["viewer"]).get("components/cmp_missing"), 404, "not_found")


def test_bad_input_is_a_400_problem_naming_the_field(api_as, role_users):
    component = Component.objects.create(name="API")
    api = api_as(role_users["operator"], "read", "status")
    body = assert_problem(api.post(f"components/{component.public_id}/status", {"status": "on fire"}), 400, "invalid")
    assert "status" in body["errors"]
    response = api.post(
        f"components/{component.public_id}/status", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "parse_error")


def test_rate_limit_per_token_is_a_429_with_retry_after(api_as, role_users, settings):
    settings.OPS_API_RATE_LIMIT = 3
    settings.OPS_API_RATE_WINDOW_SECONDS = 3600
    api = api_as(role_users["viewer"])
    for _ in range(3):
        assert api.get("me").status_code == 200
    response = api.get("me")
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    other = api_as(role_users["operator"])  # another token has its own count
    assert other.get("me").status_code == 200


def test_schema_and_self_hosted_docs(live_server):
    import requests

    schema = requests.get(live_server.url + "/api/ops/v1/schema/", headers={"Accept": "application/json"}, timeout=30)
    assert schema.status_code == 200
    doc = schema.json() if schema.headers["Content-Type"].startswith("application/json") else None
    if doc is None:
        import yaml

        doc = yaml.safe_load(schema.text)
    assert "/api/ops/v1/components" in doc["paths"]
    assert doc["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"
    docs = requests.get(live_server.url + "/api/ops/v1/docs/", timeout=30)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text and "cdn" not in docs.text.lower() and "//unpkg" not in docs.text


def test_same_idempotency_key_and_body_replay_the_first_answer(api_as, role_users):
    component = Component.objects.create(name="API")
    api = api_as(role_users["operator"], "read", "status")
    path = f"components/{component.public_id}/status"
    first = api.post(path, {"status": "partial_outage"}, headers={"Idempotency-Key": "ci-run-1"})
    assert first.status_code == 200, first.text
    # the same request again (key order and spacing differ): the first answer, nothing done twice
    again = api.post(
        path,
        data='{ "status" : "partial_outage" }',
        headers={"Idempotency-Key": "ci-run-1", "Content-Type": "application/json"},
    )
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="status.component.updated").count() == 1
    other = api.post(path, {"status": "major_outage"}, headers={"Idempotency-Key": "ci-run-1"})
    assert_problem(other, 422, "idempotency_key_reused")
    component.refresh_from_db()
    assert component.status == "partial_outage"


def test_a_refused_request_is_not_remembered_under_its_key(api_as, role_users):
    component = Component.objects.create(name="API")
    api = api_as(role_users["operator"], "read", "status")
    path = f"components/{component.public_id}/status"
    assert_problem(api.post(path, {"status": "bogus"}, headers={"Idempotency-Key": "k"}), 400)
    assert api.post(path, {"status": "major_outage"}, headers={"Idempotency-Key": "k"}).status_code == 200


def test_a_bug_is_a_logged_500_problem_without_a_traceback(api_as, role_users, monkeypatch, caplog):
    from django.db import OperationalError

    from api.views import meta

    def boom(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(meta.WhoAmIView, "get", boom)
    api = api_as(role_users["viewer"])
    response = api.get("me")
    body = assert_problem(response, 500, "internal")
    assert "secret internals" not in response.text and body["request_id"] == response.headers["X-Request-ID"]
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.exc_info)

    def gone(self, request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(meta.WhoAmIView, "get", gone)
    response = api.get("me")
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "5"
