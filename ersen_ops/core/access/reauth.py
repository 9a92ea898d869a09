"""Re-authentication before production actions: ONE helper for every guarded action.

`require_recent_auth(request, action_label)` passes when this session proved, within OPS_REAUTH_MINUTES, a second
factor (or, for someone without one, the password): at login or by re-authenticating. Otherwise it raises
allauth's `ReauthenticationRequired`: allauth's middleware keeps the request (a POST too), sends the operator to
its re-authentication page (the code / key prompt for someone with a factor; the prompt names the action), and
replays the request afterwards.

`reauthenticated(request, action_label)` does the same as a `with` block and, inside it, every audit event
(`audit.record`) carries `"reauthenticated": true` with when and how (`reauthenticated_at`, `reauthenticated_with`).
`reauthentication_required(action_label)` decorates a view: its POSTs run inside that block (GET changes nothing).
The workflow buttons of the admin take `WorkflowAction(reauthenticate=…)` (ersen_ops.core.admin_workflow).
"""

from __future__ import annotations

import contextlib
import functools
import time
from datetime import UTC, datetime

from django.conf import settings

from ersen_ops.core import context
from ersen_ops.core.access import factors, policy

SESSION_ACTION_KEY = "ops_reauth_action"  # what the re-authentication prompt says it is for


def recent_authentication(request, *, now: float | None = None) -> dict | None:
    """allauth's record that proves a fresh authentication for this session, or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    records = factors.authentication_records(request)
    if not records:
        return None
    has_factor = factors.second_factor_status(user).has_factor
    return policy.fresh_authentication(
        records,
        has_factor=has_factor,
        now=time.time() if now is None else now,
        max_age_seconds=settings.OPS_REAUTH_MINUTES * 60,
    )


def proof(record: dict) -> dict:
    """What the audit event says about the re-authentication."""
    return {
        "reauthenticated": True,
        "reauthenticated_at": datetime.fromtimestamp(float(record["at"]), tz=UTC).isoformat(timespec="seconds"),
        "reauthenticated_with": policy.describe(record),
    }


def require_recent_auth(request, action_label: str) -> dict:
    """The proof (for the audit event) when the session authenticated recently; otherwise ask (raises)."""
    from allauth.core.exceptions import ReauthenticationRequired

    record = recent_authentication(request)
    if record is None:
        request.session[SESSION_ACTION_KEY] = action_label
        raise ReauthenticationRequired()
    return proof(record)


@contextlib.contextmanager
def reauthenticated(request, action_label: str):
    """Require a recent authentication; audit events recorded inside the block say it was re-authenticated."""
    token = context.set_reauthentication(require_recent_auth(request, action_label))
    try:
        yield
    finally:
        context.reset_reauthentication(token)


def reauthentication_required(action_label: str):
    """Decorator for a view whose POST is a production action (GET only shows what would happen)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            with reauthenticated(request, action_label):
                return view(request, *args, **kwargs)

        return wrapped

    return decorator
