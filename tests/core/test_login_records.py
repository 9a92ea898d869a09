"""Login records: every login (how, which second factor), logout and failed login is in the audit log."""

from __future__ import annotations

import json

import pytest
from allauth.account.internal.flows.login import record_authentication
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.records import login_method
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chromium/131"


def test_a_password_login_and_the_logout_are_recorded(client):
    user = UserFactory(username="carol")
    response = client.post(
        "/accounts/login/",
        {"login": "carol", "password": "pw", "next": "/admin/"},
        REMOTE_ADDR="203.0.113.5",
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 302
    login = AuditEvent.objects.get(action=AccessAction.LOGIN)
    assert login.actor == user and login.target_id == str(user.pk)
    assert login.data["method"] == "password"
    assert login.data["ip_address"] == "203.0.113.5" and login.data["user_agent"] == BROWSER
    assert "pw" not in login.data.values()
    client.post("/accounts/logout/", REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT=BROWSER)
    logout = AuditEvent.objects.get(action=AccessAction.LOGOUT)
    assert logout.actor == user and logout.data["ip_address"] == "203.0.113.5"


def test_a_failed_login_records_what_was_tried_but_never_the_password(client):
    UserFactory(username="carol")
    client.post(
        "/accounts/login/",
        {"login": "carol", "password": "Secret-Guess-42"},
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT=BROWSER,
    )
    event = AuditEvent.objects.get(action=AccessAction.LOGIN_FAILED)
    assert event.data == {
        "username": "carol",
        "ip_address": "198.51.100.7",
        "user_agent": BROWSER,
        "reason": "wrong username or password",
    }
    assert all("Secret-Guess-42" not in json.dumps(e.data) for e in AuditEvent.objects.all())


def _request_with_session(user):
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = user
    return request


def test_the_login_method_and_second_factor_come_from_allauths_session_records():
    user = UserFactory(username="dana")
    request = _request_with_session(user)
    record_authentication(request, user, "password", username="dana")
    record_authentication(request, user, "mfa", id=1, type="totp")
    assert login_method(request, user) == {"method": "password", "factor": "totp"}

    sso = _request_with_session(user)
    record_authentication(sso, user, "socialaccount", provider="openid_connect", uid="sub-1")
    assert login_method(sso, user) == {"method": "sso", "provider": "openid_connect", "factor": ""}
    # A later re-authentication is not how the session logged in.
    record_authentication(sso, user, "mfa", id=2, type="webauthn", reauthenticated=True)
    assert login_method(sso, user)["factor"] == ""
