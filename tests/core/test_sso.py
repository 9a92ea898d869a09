"""Single sign-on against the real test provider (tests/oidc_provider): the flow, role mapping at every login,
"no role", refusals of tampered ID tokens (audited), subject matching, SSO-only mode."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.roles import INCIDENT_COMMANDERS, OPERATORS, sync_roles
from ersen_ops.core.sso.choices import SSOAction
from tests.factories import UserFactory
from tests.sso import PROVIDER_NAME, sso_login, start_login

pytestmark = pytest.mark.slow
User = get_user_model()


@pytest.fixture(autouse=True)
def _roles(db):
    sync_roles()


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _logged_in_user(client):
    return User.objects.filter(pk=client.session.get("_auth_user_id")).first()


def test_authorization_request_uses_pkce_state_and_a_nonce(client, sso):
    query = parse_qs(urlparse(start_login(client)).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and len(query["nonce"][0]) >= 32
    assert set(query["scope"][0].split()) == {"openid", "profile", "email", "groups"} and query["client_id"] == [
        sso.client_id
    ]


def test_first_sso_login_creates_the_user_by_subject_with_the_mapped_role(client, sso):
    subject = sso.add_user("ada", groups=["ops-admins", "everyone"], email="ada@ersen.xyz", first_name="Ada")

    response = sso_login(client, sso, "ada", next_url="/admin/incidents/incident/")

    assert response.status_code == 302 and response["Location"] == "/admin/incidents/incident/"
    user = _logged_in_user(client)
    assert user.username == "ada" and user.email == "ada@ersen.xyz" and user.first_name == "Ada"
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == [OPERATORS]
    assert SocialAccount.objects.get(user=user).uid == subject
    created, changed = _events(AccessAction.USER_CREATED), _events(AccessAction.USER_ACCESS_CHANGED)
    assert [e.data["subject"] for e in created] == [subject] and created[0].data["source"] == "sso"
    assert changed[0].data["before"] == {"groups": [], "is_staff": False}
    assert changed[0].data["after"] == {"groups": [OPERATORS], "is_staff": True}
    assert changed[0].data["groups_seen"] == ["everyone", "ops-admins"] and changed[0].data["source"] == "sso"
    # An Operator whose provider vouched for a password only ("amr": ["pwd"]) sets up the portal's second factor first.
    assert client.get("/admin/")["Location"] == "/accounts/"


def test_roles_follow_the_groups_at_every_login_and_unmanaged_roles_stay(client, sso):
    sso.add_user("grace", groups=["ops-admins"])
    sso_login(client, sso, "grace")
    user = User.objects.get(username="grace")
    user.groups.add(Group.objects.get(name=INCIDENT_COMMANDERS))  # given in the portal: not managed by the map
    client.logout()

    sso.add_user("grace", groups=["ops-approvers"])  # moved at the provider
    response = sso_login(client, sso, "grace")

    assert response.status_code == 302
    assert sorted(user.groups.values_list("name", flat=True)) == ["Approvers", INCIDENT_COMMANDERS]
    last = _events(AccessAction.USER_ACCESS_CHANGED)[-1]
    assert last.data["before"] == {"groups": [INCIDENT_COMMANDERS, OPERATORS]}
    assert last.data["after"] == {"groups": ["Approvers", INCIDENT_COMMANDERS]}
    assert last.data["groups_removed"] == [OPERATORS] and last.data["groups_added"] == ["Approvers"]
    assert last.actor == user and last.target_id == str(user.pk)


def test_an_unknown_group_gets_the_no_role_page_and_no_account(client, sso):
    sso.add_user("mallory", groups=["contractors"])

    response = sso_login(client, sso, "mallory")

    assert response.status_code == 403
    html = response.content.decode()
    assert "No role in Ersen Ops" in html and "contractors" in html and "ops-admins" in html
    assert "an Ersen Ops superuser" in html  # who to ask
    assert not User.objects.filter(username="mallory").exists() and "_auth_user_id" not in client.session
    failed = _events(AccessAction.LOGIN_FAILED)[-1]
    assert failed.data["reason"] == "no_role" and failed.data["method"] == "sso"
    assert failed.data["groups_seen"] == ["contractors"] and failed.data["username"] == "mallory"


def test_a_removed_last_group_removes_the_role_and_the_login(client, sso):
    sso.add_user("linus", groups=["ops-admins"])
    sso_login(client, sso, "linus")
    client.logout()
    sso.add_user("linus", groups=[])

    response = sso_login(client, sso, "linus")

    assert response.status_code == 403 and "No role in Ersen Ops" in response.content.decode()
    user = User.objects.get(username="linus")
    assert not user.groups.exists() and not user.is_staff and "_auth_user_id" not in client.session
    last = _events(AccessAction.USER_ACCESS_CHANGED)[-1]
    assert last.data["groups_removed"] == [OPERATORS]
    assert last.data["before"]["is_staff"] is True and last.data["after"]["is_staff"] is False


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("other-key", "signature"),
        ("altered-claims", "signature"),
        ("wrong-audience", "audience"),
        ("wrong-issuer", "issuer"),
        ("wrong-nonce", "nonce"),
        ("expired", "expired"),
    ],
)
def test_a_tampered_id_token_is_refused_with_a_clear_message_and_audited(client, sso, mode, reason):
    sso.add_user("eve", groups=["ops-admins"])
    sso.tamper(mode)

    response = sso_login(client, sso, "eve")

    assert response.status_code == 403
    html = response.content.decode()
    assert "Single sign-on refused" in html and f'data-reason="{reason}"' in html
    assert "_auth_user_id" not in client.session and not User.objects.filter(username="eve").exists()
    failed = _events(AccessAction.LOGIN_FAILED)[-1]
    assert failed.data["method"] == "sso" and failed.data["reason"] == reason
    assert failed.data["user_agent"] is not None


def test_a_callback_not_started_in_this_browser_is_refused(client, sso):
    sso.add_user("ada", groups=["ops-admins"])
    back = sso.authorize(start_login(client), username="ada")

    response = Client().get(back.removeprefix("http://testserver"))  # another browser: no state in its session

    assert response.status_code == 403 and 'data-reason="state"' in response.content.decode()
    assert _events(AccessAction.LOGIN_FAILED)[-1].data["reason"] == "state"


def test_sso_matches_by_subject_never_by_email_or_username(client, sso):
    local = UserFactory(username="ada", email="ada@ersen.xyz")
    sso.add_user("ada", groups=["ops-admins"], email="ada@ersen.xyz")

    sso_login(client, sso, "ada")

    user = _logged_in_user(client)
    assert user != local and user.username != "ada" and user.email == "ada@ersen.xyz"
    assert not SocialAccount.objects.filter(user=local).exists()
    local.refresh_from_db()
    assert local.has_usable_password() and not local.groups.exists()


def test_sso_only_refuses_password_logins_except_break_glass_superusers(client, sso, settings):
    from django.contrib.auth import authenticate

    settings.OPS_SSO_ONLY = True
    settings.OPS_SSO_BREAK_GLASS_USERS = ["root", "not-a-superuser"]
    UserFactory(username="root", is_superuser=True)
    UserFactory(username="not-a-superuser")
    UserFactory(username="operator")

    assert authenticate(username="root", password="pw").username == "root"
    assert authenticate(username="not-a-superuser", password="pw") is None  # named, but not a superuser
    assert authenticate(username="operator", password="pw") is None
    assert authenticate(username="nobody", password="pw") is None

    sso.add_user("ada", groups=["ops-admins"])
    assert sso_login(client, sso, "ada").status_code == 302  # SSO itself still works


def test_without_sso_only_passwords_work_beside_sso(client, sso):
    from django.contrib.auth import authenticate

    UserFactory(username="operator")
    assert authenticate(username="operator", password="pw").username == "operator"


def test_the_login_page_offers_sso_only_when_configured(client, db, settings, sso):
    assert f"Sign in with {PROVIDER_NAME}" in client.get("/accounts/login/?next=/admin/").content.decode()
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {**settings.SOCIALACCOUNT_PROVIDERS["openid_connect"], "APPS": []}
    }
    html = client.get("/accounts/login/").content.decode()
    assert 'id="login-form"' in html and "sso-login" not in html
    assert client.post("/accounts/oidc/sso/login/").status_code == 404


def test_sso_only_login_page_says_why_a_password_is_refused_and_break_glass_still_works(client, sso, settings):
    settings.OPS_SSO_ONLY = True
    settings.OPS_SSO_BREAK_GLASS_USERS = ["root"]
    UserFactory(username="operator")
    UserFactory(username="root", is_superuser=True)

    response = client.post("/accounts/login/", {"login": "operator", "password": "pw"})

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert f"Password login is switched off: sign in with {PROVIDER_NAME}." in response.content.decode()
    response = client.post("/accounts/login/", {"login": "root", "password": "pw", "next": "/admin/"})
    assert response.status_code == 302 and client.session["_auth_user_id"]


@pytest.mark.parametrize(
    ("amr", "trust", "factor"),
    [
        (["pwd", "otp"], "amr", "idp:otp"),
        (["pwd"], "amr", None),
        (["pwd", "hwk"], "never", None),
        (["pwd"], "always", "idp:trusted"),
    ],
)
def test_the_providers_second_factor_is_recorded_for_the_session_only_when_trusted(
    client, sso, settings, amr, trust, factor
):
    settings.OPS_OIDC_TRUST_IDP_MFA = trust
    sso.add_user("ada", groups=["ops-admins"], amr=amr)

    assert sso_login(client, sso, "ada").status_code == 302

    records = client.session["account_authentication_methods"]
    assert records[0]["method"] == "socialaccount"
    factors = [r for r in records if r["method"] == "mfa"]
    assert [r["type"] for r in factors] == ([factor] if factor else [])
    if factor:
        assert factors[0]["amr"] == amr
    login = _events(AccessAction.LOGIN)[-1]  # the login record (core.accounts.records)
    assert login.data["method"] == "sso" and login.data["provider"] == "sso"
    assert login.data["factor"] == (factor or "")


def test_a_linked_existing_account_is_the_one_an_sso_login_reaches_and_links_are_audited(client, sso):
    from django.core.management import CommandError, call_command

    local = UserFactory(username="alice")
    subject = sso.add_user("alice-at-idp", groups=["ops-admins"])
    call_command("sso_link", "alice", subject)
    with pytest.raises(CommandError, match="already linked to 'alice'"):
        call_command("sso_link", UserFactory(username="bob").username, subject)

    sso_login(client, sso, "alice-at-idp")

    assert _logged_in_user(client) == local
    assert list(local.groups.values_list("name", flat=True)) == [OPERATORS]
    linked = _events(SSOAction.LINKED)[-1]
    assert linked.actor_name == "system:cli" and linked.data["subject"] == subject
    call_command("sso_link", "alice", "--unlink")
    assert not SocialAccount.objects.filter(user=local).exists() and _events(SSOAction.UNLINKED)


def test_an_unreachable_provider_gets_a_clear_page_not_an_error(client, sso, settings):
    from tests.receivers import free_port
    from tests.sso import configure

    class Down:
        issuer = f"http://127.0.0.1:{free_port()}/o"
        client_id, client_secret = sso.client_id, sso.client_secret

    configure(settings, Down)

    response = client.post("/accounts/oidc/sso/login/", {"next": "/admin/"})

    assert response.status_code == 403
    assert 'data-reason="unreachable"' in response.content.decode()
    assert "break-glass superuser can still log in" in response.content.decode()
    assert _events(AccessAction.LOGIN_FAILED)[-1].data["reason"] == "unreachable"


def test_a_disabled_account_is_refused_and_keeps_its_roles(client, sso):
    sso.add_user("ada", groups=["ops-admins"])
    sso_login(client, sso, "ada")
    client.logout()
    user = User.objects.get(username="ada")
    user.is_active = False
    user.save()

    response = sso_login(client, sso, "ada")

    assert response.status_code == 403 and 'data-reason="inactive"' in response.content.decode()
    assert "_auth_user_id" not in client.session and user.groups.filter(name=OPERATORS).exists()


def test_a_provider_second_factor_stands_in_for_the_portals_own_prompt(client, sso):
    from tests.access import enrol_totp

    sso.add_user("ada", groups=["ops-admins"], amr=["pwd"])
    sso_login(client, sso, "ada")  # first login: the account exists now
    enrol_totp(User.objects.get(username="ada"))
    client.logout()
    sso.add_user("ada", groups=["ops-admins"], amr=["pwd", "hwk"])  # the provider asked for a security key

    response = sso_login(client, sso, "ada")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200  # no code asked, no enrolment
    assert _events(AccessAction.LOGIN)[-1].data["factor"] == "idp:hwk"


def test_without_a_trusted_provider_factor_the_portal_asks_for_its_own(client, sso):
    from tests.access import enrol_totp, totp_code

    sso.add_user("ada", groups=["ops-admins"], amr=["pwd"])
    sso_login(client, sso, "ada")
    user = User.objects.get(username="ada")
    enrol_totp(user)
    client.logout()

    response = sso_login(client, sso, "ada")

    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(user)})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)
    login = _events(AccessAction.LOGIN)[-1].data
    assert login["method"] == "sso" and login["factor"] == "totp"


def test_an_sso_user_without_a_portal_factor_reauthenticates_by_signing_in_with_the_provider_again(client, sso):
    from urllib.parse import parse_qs, urlparse

    from allauth.account.adapter import get_adapter

    sso.add_user("ada", groups=["ops-admins"], amr=["pwd", "otp"])
    sso_login(client, sso, "ada")
    user = User.objects.get(username="ada")
    assert [m["id"] for m in get_adapter().get_reauthentication_methods(user)] == ["sso_reauthenticate"]
    page = client.get("/accounts/oidc/reauthenticate/?next=/admin/runbooks/")
    assert page.status_code == 200 and f"Sign in with {PROVIDER_NAME} again" in page.content.decode()

    response = client.post("/accounts/oidc/reauthenticate/", {"next": "/admin/runbooks/"})
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]  # the provider must ask again
    back = sso.authorize(response["Location"], username="ada")
    response = client.get(back.removeprefix("http://testserver"))

    assert response.status_code == 302 and response["Location"] == "/admin/runbooks/"
    assert client.session["_auth_user_id"] == str(user.pk)  # still the same session, not a new login
    records = client.session["account_authentication_methods"]
    assert [(r["method"], r.get("reauthenticated", False)) for r in records[-2:]] == [
        ("socialaccount", True),
        ("mfa", True),
    ]
    assert records[-1]["type"] == "idp:otp"


def test_reauthenticating_as_someone_else_at_the_provider_is_refused(client, sso):
    sso.add_user("ada", groups=["ops-admins"], amr=["pwd", "otp"])
    sso.add_user("grace", groups=["ops-admins"], amr=["pwd", "otp"])
    sso_login(client, sso, "ada")

    response = client.post("/accounts/oidc/reauthenticate/", {"next": "/admin/"})
    back = sso.authorize(response["Location"], username="grace")
    response = client.get(back.removeprefix("http://testserver"))

    assert response.status_code == 403 and 'data-reason="reauth_other"' in response.content.decode()
    records = client.session["account_authentication_methods"]
    assert not any(r.get("reauthenticated") for r in records)
