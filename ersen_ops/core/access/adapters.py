"""allauth adapters: how allauth's flows follow Ersen Ops' rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django import forms

from ersen_ops.core.sso import stages as sso_stages
from ersen_ops.core.sso.backends import password_login_refused


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
