"""Second factor (allauth.mfa): required by role, enrolment only until there is one, the code prompt after
the password, replayed codes refused, code attempts throttled in the shared cache, audited add/remove/use."""

from __future__ import annotations

import time

import django.test
import pytest
from allauth.mfa.models import Authenticator
from django.db import connection

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core import roles
from tests.access import enrol_totp, password_only_login, record_reauthentication, totp_code
from tests.factories import user_with_role


@pytest.fixture
def browser_client():
    """A client that logs in only through the login pages (no shortcut)."""
    return django.test.Client()


def password_step(client, username, next_url="/admin/"):
    return client.post("/accounts/login/", {"login": username, "password": "pw", "next": next_url})


def test_user_with_a_factor_is_asked_for_the_code_after_the_password(browser_client, db):
    operator = user_with_role("op-totp", roles.OPERATORS)
    enrol_totp(operator)
    response = password_step(browser_client, "op-totp", "/admin/incidents/incident/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in browser_client.session  # not logged in before the code
    assert browser_client.get("/admin/").status_code == 302
    response = browser_client.post("/accounts/2fa/authenticate/", {"code": totp_code(operator)})
    assert response.status_code == 302 and response["Location"] == "/admin/incidents/incident/"
    assert browser_client.get("/admin/").status_code == 200


def test_code_prompt_is_in_the_admin_look(browser_client, db):
    enrol_totp(user_with_role("op-look", roles.OPERATORS))
    password_step(browser_client, "op-look")
    html = browser_client.get("/accounts/2fa/authenticate/").content.decode()
    assert "admin/css/base.css" in html and "Ersen Ops" in html and 'name="code"' in html


@pytest.mark.parametrize("role", [roles.OPERATORS, roles.APPROVERS, roles.INCIDENT_COMMANDERS, None])
def test_required_user_without_a_factor_can_only_enrol(browser_client, db, role):
    user = user_with_role("needs-factor", role)
    if role is None:
        user.is_superuser = True
        user.save()
    response = password_step(browser_client, "needs-factor")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    for path in ("/admin/", "/admin/maintenance/maintenancewindow/", "/", "/accounts/password/change/"):
        response = browser_client.get(path)
        assert response.status_code == 302 and response["Location"] == "/accounts/", path
    page = browser_client.get("/accounts/")
    assert page.status_code == 200 and "Your role needs a second factor" in page.content.decode()
    assert browser_client.get("/accounts/2fa/totp/activate/").status_code in (200, 302)
    assert browser_client.get("/static/ops/access.css").status_code != 302  # static files are not held back
    assert browser_client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in browser_client.session


def test_viewer_is_exempt(browser_client, db):
    user_with_role("just-viewing", roles.VIEWERS)
    password_step(browser_client, "just-viewing")
    assert browser_client.get("/admin/").status_code == 200


def test_enrolling_a_totp_lets_the_session_continue_and_is_audited(browser_client, transactional_db):
    # transactional: allauth sends its signals after its own transaction commits, inside the request
    operator = user_with_role("op-enrol", roles.OPERATORS)
    password_step(browser_client, "op-enrol")
    response = browser_client.get("/accounts/2fa/totp/activate/")
    # allauth asks for the password again before a factor is added (its re-authentication rule)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    browser_client.post(response["Location"], {"password": "pw"})
    page = browser_client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = browser_client.session["mfa.totp.secret"]
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = browser_client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=operator, type="totp").exists()
    added = {e.data["type"]: e for e in AuditEvent.objects.filter(action="access.factor.added")}
    assert set(added) == {"totp", "recovery_codes"}  # allauth makes recovery codes with the first factor
    assert added["totp"].actor_name == "op-enrol"
    assert browser_client.get("/admin/").status_code == 200  # enrolment counts as passing the factor


def test_a_totp_code_replayed_inside_its_time_step_is_refused(browser_client, db):
    operator = user_with_role("op-replay", roles.OPERATORS)
    enrol_totp(operator)
    now = time.time()
    if now % 30 > 25:  # keep both logins inside one time step
        time.sleep(30 - now % 30 + 0.5)
    code = totp_code(operator)
    password_step(browser_client, "op-replay")
    assert browser_client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    browser_client.post("/accounts/logout/")
    password_step(browser_client, "op-replay")
    response = browser_client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in browser_client.session


def test_code_attempts_are_throttled_in_the_shared_database_cache(browser_client, db, settings):
    assert settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
    operator = user_with_role("op-guess", roles.OPERATORS)
    enrol_totp(operator)
    password_step(browser_client, "op-guess")
    for _ in range(5):
        response = browser_client.post("/accounts/2fa/authenticate/", {"code": "000000"})
        assert "Incorrect code" in response.content.decode()
    response = browser_client.post("/accounts/2fa/authenticate/", {"code": totp_code(operator)})
    assert response.status_code == 200 and "Too many codes tried: at most 5 per 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in browser_client.session
    with connection.cursor() as cursor:  # the counts are rows every web process reads
        cursor.execute("SELECT count(*) FROM ersen_cache")
        assert cursor.fetchone()[0] >= 1


def test_session_that_never_passed_the_factor_is_sent_back_to_login(db):
    operator = user_with_role("op-stale", roles.OPERATORS)
    enrol_totp(operator)
    client = django.test.Client()
    password_only_login(client, operator)
    response = client.get("/admin/incidents/incident/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert "_auth_user_id" not in client.session


def test_last_factor_of_a_required_user_cannot_be_removed(client, db):
    operator = user_with_role("op-keep", roles.OPERATORS)
    client.force_login(operator)  # tests/access.py: TOTP enrolled and passed
    record_reauthentication(client)
    response = client.post("/accounts/2fa/totp/deactivate/", follow=True)
    assert Authenticator.objects.filter(user=operator, type="totp").exists()
    assert "add another authenticator app or security key" in response.content.decode()


def test_exempt_user_removes_a_factor_audited(client, db):
    viewer = user_with_role("viewer-remove", roles.VIEWERS)
    enrol_totp(viewer)
    client.force_login(viewer)
    record_reauthentication(client)  # allauth wants a recent re-authentication before removing
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=viewer, type="totp").exists()
    event = AuditEvent.objects.get(action="access.factor.removed")
    assert event.actor_name == "viewer-remove" and event.data["type"] == "totp"


def test_recovery_code_login_is_audited(browser_client, db):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    operator = user_with_role("op-recover", roles.OPERATORS)
    enrol_totp(operator)
    codes = RecoveryCodes.activate(operator).generate_codes()
    password_step(browser_client, "op-recover")
    response = browser_client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 302 and browser_client.get("/admin/").status_code == 200
    event = AuditEvent.objects.get(action="access.recovery_code.used")
    assert event.actor_name == "op-recover" and event.data["codes_left"] == len(codes) - 1


def test_my_account_lists_factors(client, db):
    operator = user_with_role("op-list", roles.OPERATORS)
    client.force_login(operator)
    html = client.get("/accounts/").content.decode()
    assert "Authenticator app (TOTP)" in html and "Add a security key or passkey" in html
    assert 'href="/accounts/2fa/totp/deactivate/"' in html


def test_last_security_key_of_a_required_user_cannot_be_removed(db):
    from tests.access import record_login

    operator = user_with_role("op-key", roles.OPERATORS)
    key = Authenticator.objects.create(user=operator, type="webauthn", data={"name": "Master key", "credential": {}})
    client = django.test.Client()
    django.test.Client.force_login(client, operator)
    record_login(client, operator, second_factor=False)
    record_reauthentication(client)  # passed the key just now
    response = client.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/", follow=True)
    assert Authenticator.objects.filter(pk=key.pk).exists()
    assert "add another authenticator app or security key" in response.content.decode()


def test_a_misspelt_required_role_stops_start_up_with_one_line():
    from tests.core.test_settings import run_manage

    result = run_manage("check", env={"DEBUG": "1", "OPS_MFA_REQUIRED_GROUPS": "Operators,Operator"})
    assert result.returncode != 0
    assert "Configuration error: OPS_MFA_REQUIRED_GROUPS: unknown role 'Operator'; the roles are" in result.stderr
    result = run_manage("check", env={"DEBUG": "1", "OPS_SESSION_IDLE_MINUTES": "800", "OPS_SESSION_MAX_HOURS": "12"})
    assert "OPS_SESSION_IDLE_MINUTES: must be at most OPS_SESSION_MAX_HOURS × 60 (720), got 800" in result.stderr


def test_the_code_of_the_previous_step_is_still_accepted_once(browser_client, db):
    operator = user_with_role("op-drift", roles.OPERATORS)
    enrol_totp(operator)
    late = totp_code(operator, at=time.time() - 30)  # typed as its step ended (MFA_TOTP_TOLERANCE = 1)
    password_step(browser_client, "op-drift")
    assert browser_client.post("/accounts/2fa/authenticate/", {"code": late}).status_code == 302
