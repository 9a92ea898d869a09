"""Second factor enforcement: a user who needs one (superusers, OPS_MFA_REQUIRED_GROUPS) gets nothing
else until they have passed it.

- Needs one, has none: only enrolment (My account, allauth's TOTP / security key / recovery code pages,
  re-authentication), logout and static files; everything else redirects to My account.
- Has one, but this session never passed it (logged in before the factor was required, or a session made
  outside allauth's login): logged out and sent to the login page, `next` kept.
A session whose allauth records show a passed second factor costs no query here.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode

from ersen_ops.core.access import factors, policy

# URL names a user who must enrol may still reach.
ENROLMENT_URL_NAMES = frozenset(
    {
        "ops_account",
        "mfa_index",
        "mfa_activate_totp",
        "mfa_add_webauthn",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_download_recovery_codes",
        "account_reauthenticate",
        "mfa_reauthenticate",
        "account_logout",
    }
)
ALWAYS_ALLOWED_PATHS = ("/healthz", "/readyz")


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        response = self.enforce(request)
        return response if response is not None else self.get_response(request)

    def enforce(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        path = request.path_info
        if path.startswith(self.static_prefix) or path in ALWAYS_ALLOWED_PATHS:
            return None
        if policy.second_factor_record(factors.authentication_records(request)) is not None:
            return None
        status = factors.second_factor_status(user)
        if not status.required:
            return None
        if status.has_factor:
            logout(request)
            messages.warning(request, "Log in again with your second factor.")
            return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            name = resolve(path).url_name
        except Resolver404:
            name = None
        if name in ENROLMENT_URL_NAMES:
            return None
        messages.warning(
            request,
            "Your role needs a second factor: set up an authenticator app or a security key to continue.",
        )
        return HttpResponseRedirect(reverse("ops_account"))
