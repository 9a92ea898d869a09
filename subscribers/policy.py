"""Pure rules of subscriptions: no database, no settings, no clock (callers pass everything in).

- which addresses are accepted, and how they are normalised;
- rate limiting (a sliding window over two fixed windows);
- which status-page events become which notice, and who is affected (groups expanded);
- when a failing webhook is disabled;
- how recipients are split into fan-out chunks;
- CSV cells that a spreadsheet will not execute.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from ersen_ops.core.exports import csv_cell  # noqa: F401 - the one rule; subscribers.admin exports with it
from incidents.choices import PUBLIC_UPDATE_EVENTS, IncidentEvent
from maintenance.choices import WindowEvent
from subscribers.choices import NoticeKind

# --- addresses -------------------------------------------------------------------------------------------

MAX_EMAIL_LENGTH = 254
MESSAGE_EMAIL_EMPTY = "Enter your email address."
MESSAGE_EMAIL_TOO_LONG = "An email address has at most 254 characters; this one has {length}."
MESSAGE_EMAIL_INVALID = "“{address}” is not an email address. Enter one like name@example.com."
MESSAGE_EMAIL_NO_DOMAIN = "“{address}” has no internet domain after the @ (like example.com). Enter a full address."

# No allow-list: "user@localhost" is not an address we can reach.
_validator = EmailValidator(allowlist=[])


def normalise_email(address: str) -> str:
    """Trimmed and lower-cased: one subscription per mailbox, whatever the capitals."""
    return (address or "").strip().lower()


def email_problem(address: str) -> str:
    """Why `address` cannot be subscribed ("" when it can), in words a visitor can act on."""
    address = normalise_email(address)
    if not address:
        return MESSAGE_EMAIL_EMPTY
    shown = address if len(address) <= 80 else address[:77] + "…"
    if len(address) > MAX_EMAIL_LENGTH:
        return MESSAGE_EMAIL_TOO_LONG.format(length=len(address))
    try:
        _validator(address)
    except ValidationError:
        return MESSAGE_EMAIL_INVALID.format(address=shown)
    domain = address.rpartition("@")[2]
    if domain.startswith("[") or "." not in domain or domain.endswith("."):
        return MESSAGE_EMAIL_NO_DOMAIN.format(address=shown)
    return ""


# --- rate limiting --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: float  # requests in the sliding window, this one included
    limit: int
    retry_after_seconds: int  # 0 when allowed


def window_start(now: datetime, window: timedelta) -> datetime:
    """Start of the fixed window containing `now` (windows are aligned on the epoch)."""
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def rate_decision(*, previous: int, current: int, now: datetime, window: timedelta, limit: int) -> RateDecision:
    """Sliding-window estimate: the previous window's count weighted by how much of it still overlaps.

    `current` already includes this request. No burst of 2 × limit at a window boundary, as a plain
    fixed window would allow.
    """
    seconds = window.total_seconds()
    elapsed = (now - window_start(now, window)).total_seconds() / seconds
    count = previous * (1 - elapsed) + current
    if count <= limit:
        return RateDecision(True, count, limit, 0)
    wait = _wait_fraction(previous=previous, current=current, elapsed=elapsed, limit=limit) * seconds
    return RateDecision(False, count, limit, max(1, math.ceil(wait)))


def _wait_fraction(*, previous: int, current: int, elapsed: float, limit: int) -> float:
    """Fraction of a window until one more request fits: previous × (1 − e) + current + 1 ≤ limit."""
    room = limit - current - 1
    if room >= 0:
        # The current window has room: wait for the previous window's weight to shrink enough.
        return max(0.0, (1 - room / previous) - elapsed) if previous else 0.0
    # The current window alone is over the limit: wait for it to end, then for its weight to shrink.
    return (1 - elapsed) + max(0.0, 1 - (limit - 1) / current)


def client_network(address: str) -> str:
    """The client as rate limiting sees it: an IPv4 address, or the /64 of an IPv6 one (one home or office)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# --- what is sent, and to whom ---------------------------------------------------------------------------

MAINTENANCE_EVENT_KINDS: dict[str, str] = {
    WindowEvent.SCHEDULED: NoticeKind.MAINTENANCE_SCHEDULED,
    WindowEvent.RESCHEDULED: NoticeKind.MAINTENANCE_RESCHEDULED,
    WindowEvent.UPDATED: NoticeKind.MAINTENANCE_CHANGED,
    WindowEvent.REMINDER: NoticeKind.MAINTENANCE_REMINDER,
    WindowEvent.STARTED: NoticeKind.MAINTENANCE_STARTED,
    WindowEvent.ETA_CHANGED: NoticeKind.MAINTENANCE_DELAYED,
    WindowEvent.OVERDUE: NoticeKind.MAINTENANCE_DELAYED,
    WindowEvent.COMPLETED: NoticeKind.MAINTENANCE_COMPLETED,
    WindowEvent.CANCELLED: NoticeKind.MAINTENANCE_CANCELLED,
}
# Statuspage's "postmortem" status: a post published after the resolution (not an event the incidents app writes).
POSTMORTEM_EVENT = "incident.postmortem"


def notice_kind(event: str, *, first_public_post: bool) -> str | None:
    """The notice a status-page post becomes (None: not something subscribers are told)."""
    if event in MAINTENANCE_EVENT_KINDS:
        return MAINTENANCE_EVENT_KINDS[event]
    if event in (IncidentEvent.RESOLVED, POSTMORTEM_EVENT):
        return NoticeKind.INCIDENT_RESOLVED
    if event in PUBLIC_UPDATE_EVENTS:
        return NoticeKind.INCIDENT_OPENED if first_public_post else NoticeKind.INCIDENT_UPDATED
    return None


def expand_components(
    affected: Iterable[int], *, group_of: Mapping[int, int | None], children_of: Mapping[int, Sequence[int]]
) -> list[int]:
    """The affected components plus their groups (a group's subscribers hear about its children) and, for an
    affected group, its children (their subscribers hear about the whole group)."""
    result = set()
    for cid in affected:
        result.add(cid)
        if group_of.get(cid):
            result.add(group_of[cid])
        result.update(children_of.get(cid, ()))
    return sorted(result)


def subscriber_matches(selected: Iterable[int], affected: Sequence[int]) -> bool:
    """None selected = every component; an event with no component concerns everyone."""
    selected = set(selected)
    return not selected or not affected or bool(selected & set(affected))


def webhook_should_disable(*, consecutive_failures: int, limit: int) -> bool:
    return consecutive_failures >= limit


def chunks(ids: Sequence[int], size: int, *, first: int = 0) -> list[list[int]]:
    """`ids` in chunks of `size`; with `first` (0 < first < size), the first chunk holds only that many."""
    head: list[list[int]] = []
    if 0 < first < size and len(ids) > first:
        head, ids = [list(ids[:first])], ids[first:]
    return head + [list(ids[i : i + size]) for i in range(0, len(ids), size)]

