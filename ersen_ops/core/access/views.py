"""The operator's own account page ("My account" in the admin header): password, second factors, sessions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import site as admin_site
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from ersen_ops.core.access import sessions
from ersen_ops.core.access.factors import user_requires_second_factor


def factor_context(user) -> dict:
    """The context allauth's own 2FA page gets (`authenticators`: totp, webauthn list, recovery_codes)."""
    from allauth.mfa.models import Authenticator

    authenticators: dict = {}
    for auth in Authenticator.objects.filter(user_id=user.pk).order_by("created_at"):
        if auth.type == Authenticator.Type.WEBAUTHN:
            authenticators.setdefault(auth.type, []).append(auth)
        else:
            authenticators[auth.type] = auth
    codes = authenticators.get("recovery_codes")
    return {
        "authenticators": authenticators,
        "second_factor_required": user_requires_second_factor(user),
        "has_second_factor": bool(authenticators.get("totp") or authenticators.get("webauthn")),
        "recovery_codes_unused": len(codes.wrap().get_unused_codes()) if codes else 0,
        "recovery_codes_total": len(codes.wrap().generate_codes()) if codes else 0,
    }


@login_required
def account_overview(request):
    user = request.user
    current = request.session.session_key
    context = {
        **admin_site.each_context(request),
        "title": "My account",
        "roles": sorted(user.groups.values_list("name", flat=True)),
        **factor_context(user),
        "user_sessions": [(s, s.session_key == current) for s in sessions.user_sessions(user)],
    }
    return TemplateResponse(request, "account/overview.html", context)


@login_required
@require_POST
def end_other_sessions(request):
    """My account › Sessions › "End my other sessions" (audited, one event per session)."""
    others = sessions.user_sessions(request.user).exclude(session_key=request.session.session_key)
    ended = sessions.sessions_end(actor=request.user, sessions=others, reason="ended by its user", request=request)
    messages.success(
        request, f"Ended {ended} other session{'s' if ended != 1 else ''}." if ended else "No other sessions."
    )
    return redirect("ops_account")


@login_required
def remove_security_key(request, pk: int):
    """allauth's "remove security key", refused for the last factor of someone whose role needs one
    (allauth asks the adapter only before removing an authenticator app)."""
    from allauth.mfa.adapter import get_adapter
    from allauth.mfa.models import Authenticator
    from allauth.mfa.webauthn.views import remove_webauthn

    key = get_object_or_404(Authenticator, pk=pk, user=request.user, type=Authenticator.Type.WEBAUTHN)
    adapter = get_adapter()
    if request.method == "POST" and not adapter.can_delete_authenticator(key):
        messages.error(request, adapter.error_messages["cannot_delete_authenticator"])
        return redirect("ops_account")
    return remove_webauthn(request, pk=pk)
