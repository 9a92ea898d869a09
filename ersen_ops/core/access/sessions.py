"""Session limits and the sessions list.

A login lasts at most OPS_SESSION_MAX_HOURS from the login (absolute) and ends after OPS_SESSION_IDLE_MINUTES
without a request from the operator (the admin's live panels polling JSON do not count as activity). Both are
checked from the session itself (no query); `last seen` is written at most once a minute, to the session and to
allauth.usersessions' row that the sessions list shows (address, user agent, last seen).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from ersen_ops.audit.services import record
from ersen_ops.core.access.choices import AccessEvent

LOGIN_AT = "ops_login_at"
LAST_SEEN = "ops_last_seen"
SEEN_EVERY_SECONDS = 60


def session_verdict(*, login_at: float, last_seen: float, now: float, max_hours: int, idle_minutes: int) -> str:
    """'' while the session may go on, else why it ends (pure)."""
    if now - login_at >= max_hours * 3600:
        return f"{max_hours} hours after you logged in"
    if now - last_seen >= idle_minutes * 60:
        return f"after {idle_minutes} minutes without activity"
    return ""


def on_logged_in(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is not None:
        now = time.time()
        session[LOGIN_AT] = now
        session[LAST_SEEN] = now


def _is_polling(request) -> bool:
    return request.method == "GET" and "application/json" in request.headers.get("Accept", "")


class SessionLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.check(request)
        return response if response is not None else self.get_response(request)

    def check(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        session = request.session
        now = time.time()
        login_at = session.get(LOGIN_AT)
        last_seen = session.get(LAST_SEEN)
        if login_at is None or last_seen is None:  # a session from before these limits: they start now
            session[LOGIN_AT] = login_at or now
            session[LAST_SEEN] = now
            return None
        reason = session_verdict(
            login_at=float(login_at),
            last_seen=float(last_seen),
            now=now,
            max_hours=settings.OPS_SESSION_MAX_HOURS,
            idle_minutes=settings.OPS_SESSION_IDLE_MINUTES,
        )
        if reason:
            logout(request)
            messages.info(request, f"Your session ended {reason}: log in again.")
            login = reverse("account_login")
            if request.method == "GET" and not _is_polling(request):
                login = f"{login}?{urlencode({'next': request.get_full_path()})}"
            return HttpResponseRedirect(login)
        if now - float(last_seen) >= SEEN_EVERY_SECONDS and not _is_polling(request):
            session[LAST_SEEN] = now
            _touch_user_session(session.session_key, now)
        return None


def _touch_user_session(session_key: str | None, now: float) -> None:
    from allauth.usersessions.models import UserSession

    if session_key:
        UserSession.objects.filter(session_key=session_key).update(last_seen_at=datetime.fromtimestamp(now, tz=UTC))


# --- ending sessions (audited) ------------------------------------------------------------------------------


def user_sessions(user):
    from allauth.usersessions.models import UserSession

    return UserSession.objects.filter(user=user).order_by("-last_seen_at")


def sessions_end(*, actor, sessions, reason: str, request=None) -> int:
    """End these allauth.usersessions sessions (the Django sessions are deleted), one audit event each."""
    ended = 0
    for user_session in list(sessions):
        data = {
            "ip_address": user_session.ip,
            "user_agent": user_session.user_agent[:300],
            "logged_in_at": user_session.created_at.isoformat(timespec="seconds"),
            "last_seen_at": user_session.last_seen_at.isoformat(timespec="seconds"),
            "reason": reason,
        }
        owner = user_session.user
        user_session.end()
        record(actor=actor, action=AccessEvent.SESSION_REVOKED, target=owner, data=data, request=request)
        ended += 1
    return ended


def sessions_end_all_for_user(*, actor, user, request=None) -> int:
    """A superuser ends every session of `user` (from the user admin)."""
    return sessions_end(actor=actor, sessions=user_sessions(user), reason="ended by a superuser", request=request)
