"""Login records: an audit event for every login, logout, failed login and lockout.

Written from the signals of Django (user_logged_in / user_logged_out / user_login_failed), django-axes
(user_locked_out) and read from allauth's session records (how the user authenticated, which second factor),
each through `audit.record`. What a failed login tried is recorded — the username, the address, the user agent
— never the password (nothing from the credentials but the username is read).
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.lockout import attempted_username
from ersen_ops.core.accounts.selectors import lockouts
from ersen_ops.core.clients import request_client_ip

_USER_AGENT_MAX = 300


def _client(request) -> dict:
    if request is None or not hasattr(request, "META"):
        return {"ip_address": None, "user_agent": ""}
    return {
        "ip_address": request_client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX],
    }


def _authentication_records(request, user) -> list[dict]:
    """allauth's record of how this session authenticated (password, socialaccount, mfa …), if allauth is in."""
    if request is None or not hasattr(request, "session") or not apps.is_installed("allauth.account"):
        return []
    from allauth.account.authentication import get_authentication_records

    try:
        return list(get_authentication_records(request, user))
    except Exception:  # a session without allauth's keys
        return []


def login_method(request, user) -> dict:
    """{"method": "password" | "sso", "provider": …, "factor": "totp" | "webauthn" | "recovery_codes" | ""}."""
    records = [r for r in _authentication_records(request, user) if not r.get("reauthenticated")]
    first = [r for r in records if r.get("method") in {"password", "socialaccount"}]
    factors = [r for r in records if r.get("method") == "mfa"]
    method = {"method": "password", "factor": factors[-1].get("type", "") if factors else ""}
    if first and first[-1]["method"] == "socialaccount":
        method.update(method="sso", provider=first[-1].get("provider", ""))
    return method


def on_logged_in(sender, request, user, **kwargs):
    record(
        actor=user,
        action=AccessAction.LOGIN,
        target=user,
        request=request if hasattr(request, "META") else None,
        data={**login_method(request, user), **_client(request)},
    )


def on_logged_out(sender, request, user, **kwargs):
    record(
        actor=user if user is not None else "system:session",
        action=AccessAction.LOGOUT,
        target=user,
        request=request if hasattr(request, "META") else None,
        data=_client(request),
    )


def _refused_while_locked(request) -> bool:
    # Locked, and django-axes did not count this attempt: the backend refused it before any password check.
    return (
        bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", None) is None
    )


def on_login_failed(sender, credentials, request=None, **kwargs):
    username = attempted_username(request, credentials)
    record(
        actor="system:login",
        action=AccessAction.LOGIN_FAILED,
        request=request if hasattr(request, "META") else None,
        data={
            "username": username or "",
            **_client(request),
            "reason": "locked out: refused without checking the password"
            if _refused_while_locked(request)
            else "wrong username or password",
        },
    )
    if request is not None:
        request._ops_failure_recorded = True
        pending = getattr(request, "_ops_pending_lockout", None)
        if pending:
            # The lockout this failure caused, after the failure itself.
            request._ops_pending_lockout = None
            record(actor="system:login", action=AccessAction.LOCKED_OUT, request=request, data=pending)


def on_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    # django-axes sends this again for every attempt while locked; only the failure that locked counts here.
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    now = timezone.now()
    username = attempted_username(request, getattr(request, "axes_credentials", None)) or username
    found = lockouts(now=now, usernames=[username] if username else [], addresses=[ip_address] if ip_address else [])
    data = {
        "username": username or "",
        **_client(request),
        "failures": request.axes_failures_since_start,
        "limit": settings.OPS_LOGIN_MAX_FAILURES,
        "locked": [
            scope for scope, locked in (("username", found.usernames), ("ip_address", found.addresses)) if locked
        ],
        "locked_until": found.until(username=username, ip_address=ip_address),
    }
    if getattr(request, "_ops_failure_recorded", False):
        record(actor="system:login", action=AccessAction.LOCKED_OUT, request=request, data=data)
    else:
        # Sent from inside django-axes' user_login_failed receiver, which runs before ours: wait for the failure.
        request._ops_pending_lockout = data


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(on_logged_in, dispatch_uid="ersen_ops.accounts.login")
    user_logged_out.connect(on_logged_out, dispatch_uid="ersen_ops.accounts.logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="ersen_ops.accounts.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="ersen_ops.accounts.locked_out")
