"""OPS_SSO_ONLY: the guard before every password check (first in AUTHENTICATION_BACKENDS).

Django stops at a backend that raises PermissionDenied, so no later backend checks the password, and
`user_login_failed` is sent as for any failed login. Break-glass users are superusers named in
OPS_SSO_BREAK_GLASS_USERS; any other name (existing or not) is refused the same way.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from ersen_ops.core.sso import config

PASSWORD_OFF = "Password login is switched off: sign in with {name}."


def is_break_glass(username: str) -> bool:
    cfg = config.current()
    if not username or username not in cfg.break_glass_users:
        return False
    return get_user_model().objects.filter(username=username, is_superuser=True, is_active=True).exists()


def password_login_refused(username: str) -> str | None:
    """The message for a refused password login, or None when passwords may be tried."""
    cfg = config.current()
    if not cfg.sso_only or is_break_glass(username):
        return None
    return PASSWORD_OFF.format(name=cfg.name)


class SSOOnlyGuard:
    def authenticate(self, request, username=None, password=None, **credentials):
        if password is None:
            return None
        if password_login_refused(username or credentials.get("login") or credentials.get("email") or ""):
            raise PermissionDenied(PASSWORD_OFF)
        return None

    def get_user(self, user_id):
        return None
