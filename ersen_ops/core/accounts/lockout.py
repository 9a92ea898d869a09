"""django-axes glue: which username a login attempt counts against (AXES_USERNAME_CALLABLE), and the backend."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend

from ersen_ops.core.accounts.policy import normalise_username

# Where the tried username may be: Django's auth form and allauth's credentials say "username", allauth's
# login form posts "login".
_FIELDS = ("username", "login")


def attempted_username(request, credentials=None) -> str | None:
    if credentials:
        for field in _FIELDS:
            if credentials.get(field):
                return normalise_username(credentials[field])
    if request is not None and getattr(request, "method", "") == "POST":
        for field in _FIELDS:
            if request.POST.get(field):
                return normalise_username(request.POST[field])
    return None


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in AUTHENTICATION_BACKENDS.

    Every login page (allauth's login and re-authentication) passes the request, so every visitor's attempt is
    checked and counted. A call without a request is code, not a visitor (a management command, a test's
    `authenticate()`): there is no address to count against, so it is left to the next backends instead of
    failing with axes' "requires a request" error.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
