"""Single sign-on in tests: the portal configured for the test provider (`sso` fixture), and one login through it
with Django's test client. The provider itself: tests/oidc_provider."""

from __future__ import annotations

import pytest

from ersen_ops.core.roles import APPROVERS, OPERATORS
from ersen_ops.core.sso import policy
from ersen_ops.core.sso.config import LOGIN_PATH

ROLE_MAP = {"ops-admins": (OPERATORS,), "ops-approvers": (APPROVERS,)}
PROVIDER_NAME = "Ersen ID"


def configure(settings, idp, **extra) -> None:
    """Point the portal at `idp` (the test OpenID Connect provider) as the environment would."""
    settings.OPS_OIDC_ISSUER = idp.issuer
    settings.OPS_OIDC_CLIENT_ID = idp.client_id
    settings.OPS_OIDC_CLIENT_SECRET = idp.client_secret
    settings.OPS_OIDC_NAME = PROVIDER_NAME
    settings.OPS_OIDC_ROLE_MAP = ROLE_MAP
    settings.SOCIALACCOUNT_PROVIDERS = policy.allauth_providers(
        issuer=idp.issuer,
        client_id=idp.client_id,
        secret=idp.client_secret,
        name=PROVIDER_NAME,
        scopes=["openid", "profile", "email", "groups"],
    )
    for name, value in extra.items():
        setattr(settings, name, value)


@pytest.fixture
def sso(settings, idp):
    configure(settings, idp)
    return idp


def start_login(client, next_url: str = "/admin/"):
    """POST the login page's SSO button; returns the provider's authorization URL."""
    response = client.post(LOGIN_PATH, {"next": next_url})
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def sso_login(client, idp, username: str, next_url: str = "/admin/"):
    """The whole flow through Django's test client: button, provider sign-in, callback. Returns the callback's
    response (a redirect into the portal when the login worked, a page when it was refused)."""
    back = idp.authorize(start_login(client, next_url), username=username)
    assert back.startswith("http://testserver/"), back
    return client.get(back.removeprefix("http://testserver"))
