"""Creating and revoking API tokens in the admin: for yourself, after re-authentication, the secret shown once."""

from __future__ import annotations

import pytest

from api.models import ApiToken
from api.policy import token_hash
from ersen_ops.audit.models import AuditEvent
from tests.access import record_login, record_reauthentication

pytestmark = pytest.mark.django_db

ADD = "/admin/api/apitoken/add/"


def _signed_in(client, user):
    client.force_login(user)
    record_login(client, user)


def test_my_account_links_to_api_tokens(client, users):
    _signed_in(client, users["operator"])
    page = client.get("/accounts/")
    assert page.status_code == 200
    assert b"/admin/api/apitoken/" in page.content and b"New API token" in page.content


def test_creating_a_token_needs_a_fresh_second_factor_and_shows_the_secret_once(client, users, settings):
    settings.OPS_REAUTH_MINUTES = 1
    operator = users["operator"]
    _signed_in(client, operator)
    form = {"name": "GitHub Actions deploy", "scopes": ["read", "maintenance"], "days": "30"}
    import time

    # the login was "long ago": re-authentication is asked for, nothing is created
    session = client.session
    for entry in session["account_authentication_methods"]:
        entry["at"] = time.time() - 3600
    session.save()
    response = client.post(ADD, form)
    assert response.status_code in (302, 200)
    assert not ApiToken.objects.exists()
    record_reauthentication(client)
    response = client.post(ADD, form)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert secret.startswith(token.prefix + "_") and secret.encode() in response.content
    assert token.secret_hash == token_hash(secret) and secret not in str(token.__dict__)
    assert token.user == operator and token.scopes == ["maintenance", "read"]
    assert (token.expires_at - token.created_at).days == 30
    event = AuditEvent.objects.get(action="api.token.created")
    assert event.actor == operator and event.data["reauthenticated"] is True
    # the list shows it, with last use, never the secret
    listing = client.get("/admin/api/apitoken/")
    assert token.prefix.encode() in listing.content and secret.encode() not in listing.content
    detail = client.get(f"/admin/api/apitoken/{token.pk}/change/")
    assert secret.encode() not in detail.content


def test_expiry_beyond_the_maximum_is_refused(client, users, settings):
    settings.OPS_API_TOKEN_MAX_DAYS = 30
    _signed_in(client, users["viewer"])
    record_reauthentication(client)
    response = client.post(ADD, {"name": "x", "scopes": ["read"], "days": "31"})
    assert response.status_code == 200
    assert not ApiToken.objects.exists()
    assert b"30" in response.content


def test_users_see_and_revoke_only_their_own_tokens(client, users):
    from api import services

    mine, _ = services.token_create(actor=users["operator"], name="mine", scopes=["read"])
    theirs, _ = services.token_create(actor=users["viewer"], name="theirs", scopes=["read"])
    _signed_in(client, users["operator"])
    listing = client.get("/admin/api/apitoken/")
    assert mine.prefix.encode() in listing.content and theirs.prefix.encode() not in listing.content
    assert client.get(f"/admin/api/apitoken/{theirs.pk}/change/").status_code in (302, 404)
    client.post("/admin/api/apitoken/", {"action": "revoke_tokens", "_selected_action": [mine.pk, theirs.pk]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_the_admin_index_lists_api_tokens(client, users):
    _signed_in(client, users["viewer"])
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"/admin/api/apitoken/" in page.content
