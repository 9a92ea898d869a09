"""Sessions end OPS_SESSION_MAX_HOURS after login and after OPS_SESSION_IDLE_MINUTES idle; an operator sees their
sessions (address, browser, last seen) on My account and ends the others; ending is audited."""

from __future__ import annotations

import time

import django.test
import pytest
import time_machine
from allauth.usersessions.models import UserSession

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.access.sessions import session_verdict
from tests.access import totp_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_rule():
    assert session_verdict(login_at=0, last_seen=0, now=59 * 60, max_hours=12, idle_minutes=60) == ""
    assert "60 minutes without activity" in session_verdict(
        login_at=0, last_seen=0, now=60 * 60, max_hours=12, idle_minutes=60
    )
    assert "12 hours after you logged in" in session_verdict(
        login_at=0, last_seen=12 * 3600 - 1, now=12 * 3600, max_hours=12, idle_minutes=60
    )


def browser_login(username: str, user_agent: str) -> django.test.Client:
    browser = django.test.Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR="192.0.2.7")
    response = browser.post("/accounts/login/", {"login": username, "password": "pw", "next": "/admin/"})
    assert response.status_code == 302
    return browser


def test_an_idle_session_ends_and_an_active_one_goes_on():
    UserFactory(username="idle-viewer")
    with time_machine.travel(time.time(), tick=False) as traveller:
        browser = browser_login("idle-viewer", "Firefox")
        for _ in range(3):  # active every 50 minutes: still logged in after 2.5 hours
            traveller.shift(50 * 60)
            assert browser.get("/admin/").status_code == 200
        traveller.shift(61 * 60)
        response = browser.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
        assert "_auth_user_id" not in browser.session


def test_a_session_ends_12_hours_after_login_however_active():
    UserFactory(username="busy-viewer")
    with time_machine.travel(time.time(), tick=False) as traveller:
        browser = browser_login("busy-viewer", "Firefox")
        for _ in range(24):  # a request every 29 minutes: 11.6 hours
            traveller.shift(29 * 60)
            assert browser.get("/admin/").status_code == 200
        traveller.shift(29 * 60)  # 12.1 hours after login
        response = browser.get("/admin/")
        assert response.status_code == 302 and "_auth_user_id" not in browser.session


def test_live_panels_polling_do_not_keep_a_session_alive():
    UserFactory(username="tab-open")
    with time_machine.travel(time.time(), tick=False) as traveller:
        browser = browser_login("tab-open", "Firefox")
        for _ in range(7):
            traveller.shift(10 * 60)
            browser.get("/admin/", HTTP_ACCEPT="application/json")
        assert browser.get("/admin/").status_code == 302


def test_my_account_lists_my_sessions_and_ends_the_others_audited():
    from tests.access import enrol_totp
    from tests.factories import user_with_role

    operator = user_with_role("op-sessions", "Operators")
    enrol_totp(operator)
    laptop = browser_login("op-sessions", "Firefox on the laptop")
    laptop.post("/accounts/2fa/authenticate/", {"code": totp_code(operator)})
    time.sleep(0)  # the two logins need two codes: use a recovery code for the phone
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    phone = browser_login("op-sessions", "Safari on the phone")
    phone.post("/accounts/2fa/authenticate/", {"code": RecoveryCodes.activate(operator).generate_codes()[0]})
    assert UserSession.objects.filter(user=operator).count() == 2
    page = laptop.get("/accounts/").content.decode()
    assert "Firefox on the laptop" in page and "Safari on the phone" in page and "192.0.2.7" in page
    assert "this session" in page
    response = laptop.post("/accounts/sessions/end-others/")
    assert response.status_code == 302
    assert phone.get("/admin/").status_code == 302  # the phone is logged out
    assert laptop.get("/admin/").status_code == 200
    event = AuditEvent.objects.get(action="access.session.revoked")
    assert event.actor_name == "op-sessions" and event.data["user_agent"] == "Safari on the phone"
    assert event.data["reason"] == "ended by its user"


def test_a_superuser_ends_every_session_of_a_user():
    from ersen_ops.core.access.sessions import sessions_end_all_for_user

    target = UserFactory(username="leaver")
    first, second = browser_login("leaver", "A"), browser_login("leaver", "B")
    admin = UserFactory(username="root", is_superuser=True)
    assert sessions_end_all_for_user(actor=admin, user=target) == 2
    assert first.get("/admin/").status_code == 302 and second.get("/admin/").status_code == 302
    events = AuditEvent.objects.filter(action="access.session.revoked")
    assert events.count() == 2 and {e.actor_name for e in events} == {"root"}


def test_end_all_sessions_is_a_user_admin_action_for_superusers(client, users):
    browser_login("viewer", "Firefox")
    client.force_login(users["admin"])
    response = client.post(
        "/admin/auth/user/", {"action": "end_all_sessions", "_selected_action": [users["viewer"].pk]}, follow=True
    )
    assert "Ended 1 session (audited)." in response.content.decode()
    event = AuditEvent.objects.get(action="access.session.revoked")
    assert event.actor_name == "admin" and event.target_id == str(users["viewer"].pk)
    assert event.data["reason"] == "ended by a superuser"
