"""django-axes glue: which username a login attempt counts against (AXES_USERNAME_CALLABLE)."""

from __future__ import annotations

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
