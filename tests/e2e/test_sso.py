"""Single sign-on in a real browser (headless Chromium) against the live server and the test OpenID Connect
provider (tests/oidc_provider, one process for the session). Screenshots under test-artifacts/e2e/<flow>/.

1. "Sign in with <provider>" → the provider's login page → back in the control room with Operators' rights
   (the provider's ops-admins group); logout ends the portal session.
2. A tampered ID token (signed with a key the provider does not publish) is refused with a clear message and
   audited as a failed login; nobody is logged in.
3. A user whose only group maps to no role gets the "no role" page, naming the groups seen.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.roles import OPERATORS, sync_roles
from ersen_ops.core.sso.config import CALLBACK_PATH
from tests.sso import PROVIDER_NAME, configure

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def sso_live(settings, idp, live_server, transactional_db):
    sync_roles()
    configure(settings, idp)
    idp.allow_redirect_uri(live_server.url + CALLBACK_PATH)
    return idp


def sign_in_with_sso(session, username: str, password: str = "idp-pw"):
    """From the portal's login page through the provider's, as a person would."""
    page = session.goto("/admin/login/?next=/admin/")
    page.click("#sso-login")
    page.wait_for_selector("#sign-in")  # the provider's page
    session.shot("provider login")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#sign-in")
    return page


def test_sso_login_role_mapping_refusals_and_logout(session_for, sso_live):
    sso_live.add_user("ada", groups=["ops-admins"], email="ada@ersen.xyz", amr=["pwd", "otp"])
    sso_live.add_user("mallory", groups=["contractors"])

    # 1. Sign in with the provider: the control room, with Operators' rights.
    ada = session_for("ada")
    page = ada.goto("/admin/login/?next=/admin/")
    expect(page.locator("#sso-login")).to_have_text(f"Sign in with {PROVIDER_NAME}")
    ada.shot("login page with the SSO button")
    page = sign_in_with_sso(ada, "ada")
    page.wait_for_selector("#control-room")
    ada.shot("control room after SSO")
    page = ada.goto("/admin/maintenance/maintenancewindow/add/")  # Operators may plan windows
    expect(page.locator("#maintenancewindow_form")).to_be_visible()
    changed = AuditEvent.objects.filter(action=AccessAction.USER_ACCESS_CHANGED, actor__username="ada").get()
    assert changed.data["after"]["groups"] == [OPERATORS]

    # Logout ends the portal session (the provider's own session is the provider's business).
    page = ada.goto("/admin/")
    page.click("#logout-form button[type=submit]")
    page = ada.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))  # the portal no longer knows ada
    ada.shot("logged out")

    # 2. A tampered ID token is refused, with a clear message, and audited.
    sso_live.tamper("other-key")
    eve = session_for("eve")
    page = sign_in_with_sso(eve, "ada")
    expect(page.locator("#sso-refusal")).to_contain_text("not signed by a key the provider publishes")
    eve.shot("tampered token refused")
    assert eve.goto("/admin/").url.startswith(f"{eve.base}/accounts/login/")
    failed = AuditEvent.objects.filter(action=AccessAction.LOGIN_FAILED).latest("id")
    assert failed.data["method"] == "sso" and failed.data["reason"] == "signature"
    sso_live.tamper(None)

    # 3. An unknown group: the "no role" page.
    mallory = session_for("mallory")
    page = sign_in_with_sso(mallory, "mallory")
    expect(page.locator("#sso-no-role")).to_contain_text("none of your groups there gives a role")
    expect(page.locator("#groups-seen")).to_have_text("contractors")
    mallory.shot("no role")
