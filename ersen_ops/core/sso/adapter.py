"""What happens at each single sign-on login (allauth's social account adapter).

- Users are matched by the provider's subject (`sub`) only: never linked to, or blocked by, an account that has
  the same email address or username. A new subject gets a new account, named after `preferred_username`.
- At every login the managed roles are set from the groups claim (services.user_sync_sso_roles, audited).
- Nobody without a role gets in: a new subject whose groups map to no role is not created; an existing one whose
  roles are all gone is not logged in. Both see the "no role" page (which groups were seen, who to ask).
- Every refusal (bad ID token, state, nonce, cancelled, no role, disabled) is audited as a failed login with
  method "sso" and the reason, and shows a page that says what went wrong.
"""

from __future__ import annotations

import time

import requests
from allauth.account.internal.flows.login import record_authentication
from allauth.account.internal.flows.reauthentication import resume_request
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.base.constants import AuthError
from django import forms
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from ersen_ops.audit.services import record
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.services import access_snapshot
from ersen_ops.core.clients import request_client_ip
from ersen_ops.core.sso import config, policy, services
from ersen_ops.core.sso.choices import Refusal
from ersen_ops.core.sso.config import PROVIDER_ID
from ersen_ops.core.sso.provider import IDTokenRefused, unreachable_detail

SESSION_KEY = "ops_sso_login"
REAUTH_MAX_AGE_SECONDS = 300  # a re-authentication's auth_time must be this recent (prompt=login, max_age=0)


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def refuse(request, reason: Refusal, *, detail: str = "", user=None, claims=None, groups=None) -> TemplateResponse:
    """Audit a refused SSO login and answer with the page that explains it."""
    claims = claims or {}
    detail = detail[:300]  # it may quote the provider's error_description
    cfg = config.current()
    tried = (user.get_username() if user else "") or claims.get("preferred_username") or claims.get("sub") or ""
    record(
        actor=user if user is not None else "system:login",
        action=AccessAction.LOGIN_FAILED,
        target=user,
        data={
            "method": "sso",
            "provider": cfg.name,
            "reason": reason.value,
            "detail": detail,
            "username": str(tried)[:150],
            "subject": str(claims.get("sub", ""))[:255],
            "groups_seen": groups if groups is not None else [],
            "ip_address": request_client_ip(request),
            "user_agent": _user_agent(request),
        },
        request=request,
    )
    context = {
        "title": "No role in Ersen Ops" if reason == Refusal.NO_ROLE else "Single sign-on refused",
        "reason": reason,
        "message": reason.label,
        "detail": detail,
        "provider_name": cfg.name,
        "groups_seen": groups or [],
        "groups_granting": sorted(cfg.role_map),
        "contact": cfg.access_contact,
        "username": tried,
    }
    template = "sso/no_role.html" if reason == Refusal.NO_ROLE else "sso/refused.html"
    return TemplateResponse(request, template, context, status=403)


def sso_login_info(request) -> dict | None:
    """What the SSO login that made this session said ({"provider", "subject", "groups", "amr", "second_factor"}), or
    None when the session was not made by SSO (allauth's last login step, second factors aside, must be this
    subject's)."""
    info = request.session.get(SESSION_KEY)
    logins = [r for r in request.session.get("account_authentication_methods") or [] if r.get("method") != "mfa"]
    if not info or not logins:
        return None
    last = logins[-1]
    if last.get("method") != "socialaccount" or last.get("uid") != info.get("subject"):
        return None
    return info


def _reauthenticated(request, sociallogin, *, claims: dict, groups: list[str]):
    """The provider confirmed the logged-in person again (views.reauthenticate): record it as allauth records a
    re-authentication (the provider's second factor too, when trusted) and resume the guarded request."""
    cfg = config.current()
    user = request.user
    if not user.is_authenticated or not sociallogin.is_existing or sociallogin.user.pk != user.pk:
        return refuse(
            request, Refusal.REAUTH_OTHER, user=user if user.is_authenticated else None, claims=claims, groups=groups
        )
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or time.time() - auth_time > REAUTH_MAX_AGE_SECONDS:
        return refuse(request, Refusal.REAUTH_STALE, user=user, claims=claims, groups=groups)
    subject = sociallogin.account.uid
    roles = services.user_sync_sso_roles(
        user=user, groups=groups, role_map=cfg.role_map, provider=cfg.name, subject=subject, request=request
    )
    if not roles and not user.is_superuser:
        logout(request)
        return refuse(request, Refusal.NO_ROLE, user=user, claims=claims, groups=groups)
    record_authentication(request, user, "socialaccount", reauthenticated=True, provider=PROVIDER_ID, uid=subject)
    factor = policy.idp_second_factor(amr=claims.get("amr"), trust=cfg.trust_idp_mfa, mfa_amr=cfg.mfa_amr)
    if factor:
        amr = [str(m) for m in claims.get("amr") or []][:20]
        record_authentication(request, user, "mfa", type=factor, amr=amr, provider=cfg.name, reauthenticated=True)
    next_url = sociallogin.state.get("next") or "/admin/"
    request.GET = request.GET.copy()
    request.GET["next"] = next_url  # allauth resumes the suspended request when `next` names it
    return resume_request(request) or HttpResponseRedirect(next_url)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True  # SSO accounts are made by the role map: pre_social_login turns away anyone without a role

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return True  # never the signup form: the provider's claims are the account

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.is_staff = False  # set with the roles (services.user_sync_sso_roles)
        return user

    def pre_social_login(self, request, sociallogin) -> None:
        cfg = config.current()
        claims = sociallogin.account.extra_data.get("id_token") or {}
        subject = sociallogin.account.uid
        groups = policy.groups_from_claims(claims, cfg.groups_claim)
        if sociallogin.state.get("process", AuthProcess.LOGIN) != AuthProcess.LOGIN:
            raise ImmediateHttpResponse(
                refuse(
                    request,
                    Refusal.PROVIDER,
                    detail="Only logging in is offered; a superuser links existing accounts.",
                    claims=claims,
                    groups=groups,
                )
            )
        if sociallogin.state.get("reauthenticate"):
            raise ImmediateHttpResponse(_reauthenticated(request, sociallogin, claims=claims, groups=groups))
        if request.user.is_authenticated:
            logout(request)  # a new login replaces the session's; done here so what we stash below survives
        if sociallogin.is_existing:
            user = sociallogin.user
            if not user.is_active:
                raise ImmediateHttpResponse(refuse(request, Refusal.INACTIVE, user=user, claims=claims, groups=groups))
            roles = services.user_sync_sso_roles(
                user=user, groups=groups, role_map=cfg.role_map, provider=cfg.name, subject=subject, request=request
            )
            if not roles and not user.is_superuser:
                raise ImmediateHttpResponse(refuse(request, Refusal.NO_ROLE, user=user, claims=claims, groups=groups))
        else:
            if not policy.mapped_roles(groups, cfg.role_map):
                raise ImmediateHttpResponse(refuse(request, Refusal.NO_ROLE, claims=claims, groups=groups))
            # Matched by subject alone: an address the provider sends neither links to nor blocks a local account.
            sociallogin.email_addresses = []
        amr = claims.get("amr") if isinstance(claims.get("amr"), list) else []
        request.session[SESSION_KEY] = {
            "provider": cfg.name,
            "subject": subject,
            "groups": groups,
            "amr": [str(m) for m in amr][:20],
            "second_factor": policy.idp_second_factor(
                amr=claims.get("amr"), trust=cfg.trust_idp_mfa, mfa_amr=cfg.mfa_amr
            ),
        }

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        cfg = config.current()
        claims = sociallogin.account.extra_data.get("id_token") or {}
        record(
            actor=user,
            action=AccessAction.USER_CREATED,
            target=user,
            data={
                "after": access_snapshot(user),
                "source": "sso",
                "provider": cfg.name,
                "subject": sociallogin.account.uid,
            },
            request=request,
        )
        services.user_sync_sso_roles(
            user=user,
            groups=policy.groups_from_claims(claims, cfg.groups_claim),
            role_map=cfg.role_map,
            provider=cfg.name,
            subject=sociallogin.account.uid,
            request=request,
        )
        return user

    def validate_disconnect(self, account, accounts) -> None:
        raise forms.ValidationError("The link to the provider is kept: a superuser removes or disables the account.")

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None) -> None:
        extra_context = extra_context or {}
        if isinstance(exception, IDTokenRefused):
            reason, detail = exception.reason, exception.detail
        elif error == AuthError.CANCELLED:
            reason, detail = Refusal.CANCELLED, ""
        elif exception is None and "state" not in extra_context and "state_id" in extra_context:
            reason, detail = Refusal.STATE, ""
        elif isinstance(exception, requests.RequestException):
            reason, detail = Refusal.UNREACHABLE, unreachable_detail(exception)
        else:
            reason = Refusal.PROVIDER
            detail = (
                request.GET.get("error_description", "")
                or request.GET.get("error", "")
                or (type(exception).__name__ if exception else "")
            )
        raise ImmediateHttpResponse(refuse(request, reason, detail=detail))
