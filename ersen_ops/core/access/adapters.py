"""allauth adapters: how allauth's flows follow Ersen Ops' rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django import forms

from ersen_ops.core.sso import stages as sso_stages
from ersen_ops.core.sso import views as sso_views
from ersen_ops.core.sso.backends import password_login_refused

MFA_METHOD_IDS = ("mfa_reauthenticate", "mfa_reauthenticate:webauthn")


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are made by superusers in the user admin, never by signing up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def get_login_stages(self) -> list[str]:
        # Single sign-on: a trusted provider second factor stands in for the portal's (ersen_ops.core.sso.stages).
        return sso_stages.login_stages(super().get_login_stages())

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        # OPS_SSO_ONLY: say why (the guard backend refused before any password was checked), not "wrong password".
        refused = password_login_refused(credentials.get("username") or "")
        if refused:
            raise forms.ValidationError(refused, code="sso_only")

    def get_client_ip(self, request) -> str:
        """The project's one rule for the client's address (behind Traefik: the proxy's X-Forwarded-For entry).
        A request without any (Django's test client logging in) is recorded as 0.0.0.0 rather than refused."""
        from ersen_ops.core.clients import request_client_ip

        return request_client_ip(request) or "0.0.0.0"

    def get_reauthentication_methods(self, user) -> list[dict]:
        """Someone with a second factor re-authenticates with it (a password alone is not enough);
        someone without one, with the password."""
        methods = super().get_reauthentication_methods(user)
        second_factor = [m for m in methods if m["id"] in MFA_METHOD_IDS]
        # Logged in with SSO, no factor here: "Sign in with <provider> again" (ersen_ops.core.sso.views).
        return sso_views.reauthentication_methods(user, second_factor or methods)


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": (
            "Your role needs a second factor: add another authenticator app or security key before removing this one."
        ),
    }

    def can_delete_authenticator(self, authenticator) -> bool:
        """A user who needs a second factor keeps at least one (recovery codes alone do not count)."""
        from allauth.mfa.models import Authenticator

        from ersen_ops.core.access.factors import FACTOR_TYPES, user_requires_second_factor

        user = authenticator.user
        if not user_requires_second_factor(user):
            return True
        others = Authenticator.objects.filter(user=user, type__in=FACTOR_TYPES).exclude(pk=authenticator.pk)
        return others.exists()
