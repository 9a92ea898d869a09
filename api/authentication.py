"""Token authentication, the scope permission and the per-token rate limit (REST framework's default classes).

Imports nothing of rest_framework.views (REST framework loads its default classes while importing that module).
"""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions, throttling

from api import services
from api.choices import TokenScope
from api.models import ApiToken
from ersen_ops.core.clients import request_client_ip

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ersen_…` → (the token's user, the token)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() not in ("bearer", "token") or not raw.strip():
            raise exceptions.AuthenticationFailed("Expected “Authorization: Bearer ersen_…”.")
        try:
            token = services.token_authenticate(raw=raw.strip(), addr=request_client_ip(request))
        except services.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="ersen-ops"'


class HasScope(permissions.BasePermission):
    """The token carries the view's scope for this method, and its user has the permissions the view names.

    Reads need `read_scope` (default "read"); writes need `write_scope`. The user's permissions are checked at the
    time of the call (a role taken away disables the token for what the role gave)."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # no such handler: the answer is a 405, whatever the token
        reading = request.method in SAFE_METHODS
        scope = getattr(view, "read_scope", TokenScope.READ) if reading else getattr(view, "write_scope", None)
        if scope is None or scope not in token.scopes:
            self.message = (
                f"This token lacks the “{scope}” scope (it has: {', '.join(token.scopes) or 'none'})."
                if scope
                else "This endpoint accepts no writes."
            )
            return False
        perms = getattr(view, "read_perms", ()) if reading else getattr(view, "write_perms", ())
        missing = [p for p in perms if not request.user.has_perm(p)]
        if missing:
            self.message = f"Your role does not allow this (needs the permission {missing[0]})."
            return False
        return True


class TokenRateThrottle(throttling.BaseThrottle):
    """OPS_API_RATE_LIMIT requests per token per OPS_API_RATE_WINDOW_SECONDS, counted in the database."""

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            return True
        self.decision = services.rate_limit_hit(token=request.auth)
        request._ops_rate = self.decision
        return self.decision.allowed

    def wait(self):
        return self.decision.reset_seconds
