"""Reading lockouts (django-axes' AccessAttempt records)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q

from ersen_ops.core.accounts.policy import lockout_ends_at, still_locked


def cooloff() -> timedelta:
    return timedelta(minutes=settings.OPS_LOGIN_COOLOFF_MINUTES)


@dataclass(frozen=True)
class Lockouts:
    """When each username and address is locked until (only those locked at `now`)."""

    usernames: dict[str, datetime]
    addresses: dict[str, datetime]

    def until(self, *, username: str | None, ip_address: str | None) -> datetime | None:
        ends = [t for t in (self.usernames.get(username or ""), self.addresses.get(ip_address or "")) if t]
        return max(ends) if ends else None


def lockouts(*, now: datetime, usernames: Iterable[str] = (), addresses: Iterable[str] = ()) -> Lockouts:
    """The lockouts of these usernames and addresses (or of everyone, when both are empty), in one query."""
    usernames, addresses = {u for u in usernames if u}, {a for a in addresses if a}
    recent = AccessAttempt.objects.filter(attempt_time__gte=now - cooloff())
    if usernames or addresses:
        recent = recent.filter(Q(username__in=usernames) | Q(ip_address__in=addresses))
    by_username: dict[str, list] = defaultdict(list)
    by_address: dict[str, list] = defaultdict(list)
    for username, address, at, failures in recent.values_list(
        "username", "ip_address", "attempt_time", "failures_since_start"
    ):
        # Only the asked ones are complete (a row found through its address says nothing of its username).
        if username and (username in usernames or not (usernames or addresses)):
            by_username[username].append((at, failures))
        if address and (address in addresses or not (usernames or addresses)):
            by_address[address].append((at, failures))

    def locked(groups: dict[str, list]) -> dict[str, datetime]:
        ends = {
            key: lockout_ends_at(rows, limit=settings.OPS_LOGIN_MAX_FAILURES, cooloff=cooloff())
            for key, rows in groups.items()
        }
        return {key: end for key, end in ends.items() if still_locked(end, now)}

    return Lockouts(usernames=locked(by_username), addresses=locked(by_address))
