"""Access in a real browser: enrolling an authenticator app then logging in with a code; a passkey enrolled and
used through Chromium's virtual authenticator (WebAuthn over the DevTools protocol); a production action asking
for a fresh code. The live server is http://localhost:PORT (a secure context, so WebAuthn works; its host is the
relying party)."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.models import Authenticator

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core import roles
from tests.e2e.conftest import PASSWORD, _used_time_steps, fresh_totp_code
from tests.factories import user_with_role

pytestmark = [pytest.mark.slow]


def password_step(session, username: str):
    page = session.goto("/admin/login/?next=/admin/")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    return page


def confirm_password_if_asked(page):
    """allauth asks for the password again before a factor is added."""
    page.wait_for_load_state()
    if "/accounts/reauthenticate/" in page.url:
        page.fill("#id_password", PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_load_state()


def test_totp_enrolment_then_logout_and_login_with_a_code(session_for, live_server):
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    assert live_server.url.startswith("http://localhost:")
    user = user_with_role("newop", roles.OPERATORS)
    session = session_for("newop")
    page = password_step(session, "newop")
    page.wait_for_selector("#ops-factors")  # needs a second factor, has none: My account, enrolment only
    assert "Your role needs a second factor" in page.content()
    session.shot("taken to enrolment")
    page.click("#ops-add-totp")
    confirm_password_if_asked(page)
    secret = page.input_value("#authenticator_secret")
    session.shot("authenticator app: secret and QR code")
    step = int(time.time()) // 30
    page.fill("#id_code", format_hotp_value(hotp_value(secret, step)))
    page.press("#id_code", "Enter")
    page.wait_for_load_state()
    _used_time_steps[user.pk] = step  # the next login needs the next code
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    session.shot("recovery codes")
    page = session.goto("/admin/")
    page.wait_for_selector("#control-room")
    page.click("#logout-form button[type=submit]")
    page.wait_for_selector("#login-form")

    page = password_step(session, "newop")
    page.wait_for_selector("#id_code")
    session.shot("code prompt after the password")
    page.fill("#id_code", fresh_totp_code(user))
    page.press("#id_code", "Enter")
    page.wait_for_selector("#control-room")
    login = AuditEvent.objects.filter(action="auth.login", actor=user).order_by("id").last()
    assert login.data["factor"] == "totp"


def test_passkey_enrolled_and_used_through_the_virtual_authenticator(session_for, live_server):
    user = user_with_role("keyop", roles.OPERATORS)
    session = session_for("keyop")
    cdp = session.context.new_cdp_session(session.page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    page = password_step(session, "keyop")
    page.wait_for_selector("#ops-factors")
    page.click("#ops-add-webauthn")
    confirm_password_if_asked(page)
    page.wait_for_selector("#mfa_webauthn_add")
    session.shot("add a security key")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    key = Authenticator.objects.get(user=user, type="webauthn")
    page = session.goto("/admin/")
    page.wait_for_selector("#control-room")  # the key counts as the second factor of this session
    page.click("#logout-form button[type=submit]")
    page.wait_for_selector("#login-form")

    page = password_step(session, "keyop")
    page.wait_for_selector("#mfa_webauthn_authenticate")
    session.shot("key prompt after the password")
    page.click("#mfa_webauthn_authenticate")
    page.wait_for_selector("#control-room")
    login = AuditEvent.objects.filter(action="auth.login", actor=user).order_by("id").last()
    assert login.data["factor"] == "webauthn"
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_production_action_from_a_stale_login_asks_for_a_fresh_code(session_for, users, live_server):
    from django.contrib.sessions.backends.db import SessionStore

    from subscribers.choices import WebhookStatus
    from tests.subscribers.factories import WebhookSubscriberFactory

    webhook = WebhookSubscriberFactory(status=WebhookStatus.DISABLED, disabled_reason="10 failures in a row")
    session = session_for("operator")
    page = session.login("operator")
    # Age the login by 11 minutes (OPS_REAUTH_MINUTES is 10), as if the operator had been away.
    key = next(c["value"] for c in session.context.cookies() if c["name"] == "sessionid")
    store = SessionStore(session_key=key)
    store["account_authentication_methods"] = [
        {**r, "at": r["at"] - 11 * 60} for r in store["account_authentication_methods"]
    ]
    store.save()
    page = session.goto(f"/admin/subscribers/webhooksubscriber/{webhook.pk}/do/enable/")
    page.click("input[type=submit].default")
    page.wait_for_selector(".ops-reauth-action")
    assert "Re-enable" in page.inner_text(".ops-reauth-action")
    session.shot("asked for a fresh code, naming the action")
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    page.fill("#id_code", fresh_totp_code(users["operator"]))
    page.press("#id_code", "Enter")
    page.wait_for_selector(".messagelist .success")
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE
    event = AuditEvent.objects.get(action="subscribers.webhook.enabled")
    assert event.data["reauthenticated"] is True and event.data["reauthenticated_with"] == "totp"
