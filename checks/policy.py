"""Pure rules of the checks (no database, no clock: `now` is passed in).

- A check's state moves after `failures_to_down` consecutive failures (→ down) or `successes_to_up` consecutive
  passes (→ up); an unknown check takes the first result's side at once (there is nothing to protect).
- Its components' automatic status is the worst `down_status` among their down checks (operational if none).
- Failures are told in words: what was asked, what came back, and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ersen_ops.core.wording import duration
from ersen_ops.status.policy import OPERATIONAL, worst_component_status

from .choices import CheckState


@dataclass(frozen=True)
class Counters:
    state: str
    consecutive_failures: int
    consecutive_successes: int


def next_counters(*, state: str, failures: int, successes: int, passed: bool, failures_to_down: int,
                  successes_to_up: int) -> Counters:
    """The check's state and counters after one result."""
    if passed:
        successes, failures = successes + 1, 0
        if state == CheckState.UNKNOWN or (state == CheckState.DOWN and successes >= successes_to_up):
            state = CheckState.UP
    else:
        failures, successes = failures + 1, 0
        if failures >= failures_to_down and state != CheckState.DOWN:
            state = CheckState.DOWN
        elif state == CheckState.UNKNOWN and failures < failures_to_down:
            state = CheckState.UNKNOWN
    return Counters(state, failures, successes)


def automatic_status(down_statuses: Iterable[str]) -> str:
    """A component's automatic status from the `down_status` of its checks that are down."""
    return worst_component_status([OPERATIONAL, *down_statuses])


# --- words --------------------------------------------------------------------------------------------------


def seconds(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def http_wrong_status(*, code: int, url: str, latency_ms: float, expected: int) -> str:
    return f"HTTP {code} from {url} after {seconds(latency_ms)}; expected {expected}"


def http_passed(*, code: int, url: str, latency_ms: float) -> str:
    return f"HTTP {code} from {url} after {seconds(latency_ms)}"


def http_too_slow(*, url: str, latency_ms: float, limit_ms: int) -> str:
    return f"{url} answered after {seconds(latency_ms)}; the limit is {seconds(limit_ms)}"


def body_missing(*, url: str, needle: str) -> str:
    return f"the body of {url} does not contain {needle!r}"


def body_no_match(*, url: str, pattern: str) -> str:
    return f"the body of {url} does not match the regular expression {pattern!r}"


def too_many_redirects(*, url: str, limit: int) -> str:
    return f"{url} redirected more than {limit} time{'s' if limit != 1 else ''}"


def timed_out(*, target: str, timeout_s: float) -> str:
    return f"no answer from {target} within {timeout_s:g} s (timeout)"


def refused(*, target: str, reason: str) -> str:
    return f"could not connect to {target}: {reason}"


def cert_days_left(*, not_after: datetime, now: datetime) -> int:
    return int((not_after - now).total_seconds() // 86400)


def cert_problem(*, not_after: datetime, now: datetime, warning_days: int) -> str | None:
    """None when the certificate is fine; else the failure in words."""
    if not_after <= now:
        return f"certificate expired on {not_after:%Y-%m-%d %H:%M} UTC"
    days = cert_days_left(not_after=not_after, now=now)
    if days < warning_days:
        return f"certificate expires in {days} day{'s' if days != 1 else ''}; warning at {warning_days}"
    return None


def cert_ok(*, not_after: datetime, now: datetime) -> str:
    return f"certificate valid for {cert_days_left(not_after=not_after, now=now)} more days"


def heartbeat_problem(*, last_ping_at: datetime | None, since: datetime, period_s: int, grace_s: int,
                      now: datetime) -> str | None:
    """None while the job has called within period + grace; else the failure in words.

    `since`: when the check started waiting (its creation), for a job that never called."""
    limit = timedelta(seconds=period_s + grace_s)
    reference = last_ping_at or since
    if now - reference <= limit:
        return None
    expected = f"expected every {_duration(period_s)} + {_duration(grace_s)} grace"
    if last_ping_at is None:
        return f"no heartbeat received since the check was created {_duration((now - since).total_seconds())} ago; {expected}"
    return f"no heartbeat for {_duration((now - last_ping_at).total_seconds())}; {expected}"


def _duration(s: float) -> str:
    return duration(int(s))


# --- leases -----------------------------------------------------------------------------------------------


def lease_seconds(*, timeout_s: float) -> float:
    """How long a claim holds: the probe's timeout plus a margin for writing its result. A killed checker's check
    is claimable again after this, i.e. within one interval (the timeout is shorter than the interval)."""
    return timeout_s + 2.0


def next_due(*, due_at: datetime, interval_s: int, now: datetime) -> datetime:
    """The next due time on the check's own grid; a check that fell behind skips the missed slots."""
    step = timedelta(seconds=interval_s)
    nxt = due_at + step
    if nxt <= now:
        missed = int((now - due_at) / step)
        nxt = due_at + step * (missed + 1)
    return nxt


# --- checklist evidence -----------------------------------------------------------------------------------


def evidence_shortfall(passes_by_check: dict[str, int], *, required: int) -> list[str]:
    """What is still missing before the checks prove a checklist item (empty: proven)."""
    if not passes_by_check:
        return ["no check watches the window's components"]
    return [
        f"“{name}” passed {count} of {required} times"
        for name, count in sorted(passes_by_check.items())
        if count < required
    ]


def sparkline_points(latencies: list[int | None], *, width: int, height: int) -> str:
    """SVG polyline points for latencies (oldest first); failed probes (None) sit on the baseline."""
    if not latencies:
        return ""
    values = [v or 0 for v in latencies]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values))
