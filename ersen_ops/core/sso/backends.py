"""OPS_SSO_ONLY: Django's ModelBackend with a guard before the password check (first in AUTHENTICATION_BACKENDS,
in ModelBackend's place, so sessions and force_login keep working as before).

Django stops at a backend that raises PermissionDenied, so no later backend (allauth's) checks the password, and
`user_login_failed` is sent as for any failed login. Break-glass users are superusers named in
OPS_SSO_BREAK_GLASS_USERS; any other name (existing or not) is refused the same way.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
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


class SSOOnlyModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **credentials):
        if password is not None and password_login_refused(username or credentials.get("email") or ""):
            raise PermissionDenied(PASSWORD_OFF)
        return super().authenticate(request, username=username, password=password, **credentials)
