"""allauth adapters: how allauth's flows follow Ersen Ops' rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are made by superusers in the user admin, never by signing up."""

    def is_open_for_signup(self, request) -> bool:
        return False
