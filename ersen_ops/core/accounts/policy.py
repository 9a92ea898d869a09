"""Pure rules of the lockout (no database, no clock: callers pass `now` and the attempts in)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def normalise_username(value) -> str | None:
    """The username a login tried, as it is counted: trimmed and lower-cased (so "Admin" and "admin " are one
    count, as the case-insensitive login treats them), at most 255 characters (the attempts table's column)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text[:255] or None


def lockout_ends_at(attempts: Iterable[tuple[datetime, int]], *, limit: int, cooloff: timedelta) -> datetime | None:
    """When the lockout of one username (or one address) ends, or None when it is not locked.

    `attempts` are its attempt records as django-axes keeps them: (time of the record's latest failure,
    failures in it). A record counts while its latest failure is younger than the cool-off; newest first, the
    record whose failures bring the sum to `limit` is the one whose expiry ends the lockout.
    """
    total = 0
    for last_failure, failures in sorted(attempts, key=lambda a: a[0], reverse=True):
        total += failures
        if total >= limit:
            return last_failure + cooloff
    return None


def still_locked(ends_at: datetime | None, now: datetime) -> bool:
    return ends_at is not None and ends_at > now


# --- changes of a user's access -------------------------------------------------------------------------

MESSAGE_ONLY_SUPERUSERS_CHANGE_ACCESS = (
    "Only superusers can change a user's roles, permissions, or active, staff and superuser status."
)
MESSAGE_LAST_SUPERUSER = (
    "{username} is the last active superuser: {what} would leave nobody who can manage users. "
    "Make another user a superuser first."
)


def access_diff(before: dict, after: dict) -> tuple[dict, dict]:
    """(before, after) restricted to what changed; groups and permissions also as added/removed lists."""
    old = {k: v for k, v in before.items() if before[k] != after.get(k)}
    new = {k: after[k] for k in old}
    return old, new


def access_change_problem(
    *, actor_is_superuser: bool, username: str, before: dict, after: dict, other_active_superusers: int
) -> str:
    """Why this change of a user's access is refused ("" when it is allowed)."""
    if before == after:
        return ""
    if not actor_is_superuser:
        return MESSAGE_ONLY_SUPERUSERS_CHANGE_ACCESS
    was_admin = before.get("is_superuser") and before.get("is_active")
    stays_admin = after.get("is_superuser") and after.get("is_active")
    if was_admin and not stays_admin and other_active_superusers == 0:
        what = "removing superuser status" if not after.get("is_superuser") else "deactivating them"
        return MESSAGE_LAST_SUPERUSER.format(username=username, what=what)
    return ""
