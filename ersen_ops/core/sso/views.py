"""Re-authentication with the provider ("Sign in with <provider> again") for someone who logged in with SSO and
has neither a password nor a second factor in the portal: the prompt of core.access.reauth, offered as an
allauth re-authentication method (AccountAdapter.get_reauthentication_methods).

The provider is asked to authenticate the person again (`prompt=login`, `max_age=0`); the answer must be the
same subject, with an `auth_time` from just now (adapter.SocialAccountAdapter.pre_social_login).
"""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme

from ersen_ops.core.sso import config
from ersen_ops.core.sso.config import PROVIDER_ID


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/admin/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/admin/"


@login_required
def reauthenticate(request):
    if request.method == "POST":
        provider = get_social_adapter(request).get_provider(request, PROVIDER_ID)
        return provider.redirect(
            request,
            AuthProcess.LOGIN,
            next_url=_safe_next(request),
            auth_params={"prompt": "login", "max_age": "0"},
            reauthenticate=True,
        )
    return TemplateResponse(
        request,
        "sso/reauthenticate.html",
        {"provider_name": config.current().name, "next": _safe_next(request)},
    )


def reauthentication_methods(user, methods: list[dict]) -> list[dict]:
    """allauth's re-authentication methods with "Sign in with <provider> again" first for an SSO user who has no
    second factor in the portal (the provider's then counts, core.sso.stages); unchanged for anyone else."""
    from allauth.socialaccount.models import SocialAccount
    from django.urls import reverse

    cfg = config.current()
    if not cfg.enabled or any(m["id"].startswith("mfa_") for m in methods):
        return methods
    if not SocialAccount.objects.filter(user=user, provider=PROVIDER_ID).exists():
        return methods
    sso = {
        "id": "sso_reauthenticate",
        "description": f"Sign in with {cfg.name} again",
        "url": reverse("ops_sso_reauthenticate"),
    }
    return [sso, *methods]
