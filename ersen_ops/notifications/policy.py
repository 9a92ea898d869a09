"""Pure rules of notification delivery: what an answer means, and how long to wait before trying again.

No database, no settings, no clock: callers pass everything in, tests call these directly.
"""

from __future__ import annotations

import math

from ersen_ops.notifications.choices import PagerSeverity

SENT, RETRY, FAIL = "sent", "retry", "fail"


def http_outcome(status_code: int) -> str:
    """2xx sent; 429 and 5xx are worth retrying; anything else (3xx, 4xx) will not get better by itself."""
    if 200 <= status_code < 300:
        return SENT
    if status_code == 429 or status_code >= 500:
        return RETRY
    return FAIL


def smtp_outcome(code: int) -> str:
    """SMTP 4xx is transient by definition (RFC 5321); 5xx is permanent."""
    if 200 <= code < 400:
        return SENT
    return RETRY if 400 <= code < 500 else FAIL


def retry_delay(*, attempt: int, delays: list[int], retry_after: float | None = None) -> int | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None when no attempt is left.

    Never sooner than the receiver asked (429 retry_after / Retry-After).
    """
    if attempt < 1 or attempt > len(delays):
        return None
    return max(delays[attempt - 1], math.ceil(retry_after or 0))


def may_wait_inline(*, retry_after: float | None, limit: float, waits_so_far: int, max_waits: int) -> bool:
    """A short rate-limit pause is waited out inside the attempt; a long one becomes a scheduled retry."""
    return retry_after is not None and 0 <= retry_after <= limit and waits_so_far < max_waits


# Incident levels map onto PagerDuty severities; PagerDuty's own values pass through.
_LEVEL_SEVERITY = {"p1": "critical", "p2": "error", "p3": "warning", "p4": "info"}


def pager_severity(value: str) -> str:
    value = (value or "").strip().lower()
    if value in PagerSeverity.values:
        return value
    return _LEVEL_SEVERITY.get(value, PagerSeverity.CRITICAL)
