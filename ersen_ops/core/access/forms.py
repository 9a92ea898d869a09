"""allauth.mfa's code forms with the code attempts throttled like passwords.

Passwords are counted by django-axes (allauth's own `login_failed` limit is switched off for that reason), which
would leave allauth's code prompt unlimited: here a code is counted per user in the shared cache (database or
Redis, so every web process sees the same count), OPS_LOGIN_MAX_FAILURES tries per OPS_LOGIN_COOLOFF_MINUTES.
A right code clears the count.
"""

from __future__ import annotations

from allauth.core.internal import ratelimit
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from django import forms
from django.conf import settings

APP = "allauth.account"
ACTION = "ops_mfa_code"


def _config() -> dict[str, str]:
    return {ACTION: f"{settings.OPS_LOGIN_MAX_FAILURES}/{settings.OPS_LOGIN_COOLOFF_MINUTES * 60}s/key"}


def refusal() -> str:
    return (
        f"Too many codes tried: at most {settings.OPS_LOGIN_MAX_FAILURES} per {settings.OPS_LOGIN_COOLOFF_MINUTES} "
        "minutes. Wait, then try again (or use a recovery code then)."
    )


class ThrottledCodeMixin:
    def clean_code(self):
        from allauth.core import context

        request = context.request
        key = f"user-{self.user.pk}"
        if not ratelimit.consume(request, app=APP, action=ACTION, config=_config(), key=key):
            raise forms.ValidationError(refusal(), code="too_many_codes")
        code = super().clean_code()
        ratelimit.clear(request, app=APP, action=ACTION, config=_config(), key=key)
        return code


class ThrottledAuthenticateForm(ThrottledCodeMixin, AuthenticateForm):
    pass


class ThrottledReauthenticateForm(ThrottledCodeMixin, ReauthenticateForm):
    pass
