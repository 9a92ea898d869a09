"""Schedule rules as pure functions: no database, `now` passed in. The ONE place that decides due times.

Due times (`due_times`, `next_due_times`): a 5-field cron expression (minute hour day-of-month month day-of-week,
`*`, lists, ranges, steps, names such as `mon` / `jan`) read as wall-clock times in the team's zone
(OPS_MAINTENANCE_TZ), returned as UTC instants:

- A wall time that does not exist (the spring-forward gap, 02:00–02:59 in America/Los_Angeles) runs at the first valid
  instant after the gap (03:00 local): a 02:30 daily job runs once that night, at 03:00. Several times in the gap and
  a time right after it that fall on one instant are one run.
- A wall time that exists twice (the fall-back repeat, 01:00–01:59) runs once, at its first occurrence (the daylight
  time), when the expression names its hours. A job whose hour field is `*` (hourly, every 15 minutes …) follows real
  time instead: it runs in both copies of the repeated hour, because each is a real hour — one run per real hour on
  both nights, no double run, no lost run (vixie cron's rule for wildcard jobs).

Lateness (`classify`): a due time older than the grace (OPS_SCHEDULE_GRACE_SECONDS) when the tick sees it was missed
(the worker was down). With catch-up, the latest missed one runs once (unless a due time on time runs in the same
tick: that run covers it); the others are recorded as missed.

The protocol (`verdict`), in this order: the global pause, the schedule's skip dates, then for a runbook that changes a
host (runbooks' `plan_is_disruptive`) a freeze, and post-launch runbooks' window rule (an in-progress window covering
the host's components). Read-only runbooks (backup, smoke test) run any time, in a freeze too.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from ersen_ops.core.errors import PolicyViolation
from runbooks import policy as runbook_policy

# The scheduler reports misses and refused launches where runbooks report failed runs.
ALERT_CHANNELS = runbook_policy.FAILURE_ALERT_CHANNELS
# A tick never looks further back than this (a worker down for a month records a week of misses, not a month).
MAX_LOOKBACK = timedelta(days=7)
SCHEDULED_JUSTIFICATION = "Scheduled run of a read-only runbook: read-only runbooks run any time (scheduler protocol)."

_MONTHS = {m: i for i, m in enumerate(("jan feb mar apr may jun jul aug sep oct nov dec").split(), start=1)}
_DAYS = {d: i for i, d in enumerate(("sun mon tue wed thu fri sat").split())}
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_star: bool
    weekday_star: bool
    hour_star: bool

    def matches_date(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        weekday = (d.weekday() + 1) % 7
        in_days, in_weekdays = d.day in self.days, weekday in self.weekdays
        if self.day_star or self.weekday_star:  # cron: both restricted means either matches
            return in_days and in_weekdays
        return in_days or in_weekdays


def _value(text: str, name: str, low: int, high: int, names: dict) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise PolicyViolation(f"Cron {name}: {text!r} is not a number between {low} and {high}.")
    value = int(text)
    if not low <= value <= high:
        raise PolicyViolation(f"Cron {name}: {value} is outside {low}–{high}.")
    return value


def _field(text: str, name: str, low: int, high: int, names: dict) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise PolicyViolation(f"Cron {name}: step {step_text!r} must be a whole number of at least 1.")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if start > end:
                raise PolicyViolation(f"Cron {name}: range {base!r} goes backwards ({start} > {end}).")
        else:
            start = _value(base, name, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str) -> Cron:
    """Parse a 5-field cron expression; raises PolicyViolation naming the field and the numbers."""
    parts = (expression or "").split()
    if len(parts) != 5:
        raise PolicyViolation(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week), e.g. “30 2 * * *”; "
            f"got {len(parts)}: {expression!r}."
        )
    sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(
        minutes=tuple(sorted(sets[0])),
        hours=tuple(sorted(sets[1])),
        days=frozenset(sets[2]),
        months=frozenset(sets[3]),
        weekdays=weekdays,
        day_star=parts[2] == "*",
        weekday_star=parts[4] == "*",
        hour_star=len(sets[1]) == 24,
    )


def _instants(wall: datetime, zone: zoneinfo.ZoneInfo, *, both_folds: bool) -> list[datetime]:
    """The UTC instants a local wall time stands for (see the module docstring for gaps and repeats)."""
    first = wall.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != wall:  # in the gap: the first valid minute after it
        probe = wall
        for _ in range(24 * 60):
            probe += timedelta(minutes=1)
            candidate = probe.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if candidate.astimezone(zone).replace(tzinfo=None) == probe:
                return [candidate]
        raise ValueError(f"no valid time after {wall} in {zone}")  # pragma: no cover - no zone has a day-long gap
    second = wall.replace(tzinfo=zone, fold=1)
    if second.utcoffset() != first.utcoffset() and both_folds:
        return [utc, second.astimezone(UTC)]
    return [utc]


def _day_instants(cron: Cron, day: date, zone: zoneinfo.ZoneInfo) -> list[datetime]:
    if not cron.matches_date(day):
        return []
    found = set()
    for hour in cron.hours:
        for minute in cron.minutes:
            found.update(_instants(datetime.combine(day, time(hour, minute)), zone, both_folds=cron.hour_star))
    return sorted(found)


def due_times(expression: str | Cron, *, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """Due instants (UTC) in (after, until], oldest first."""
    cron = expression if isinstance(expression, Cron) else parse_cron(expression)
    tz = zoneinfo.ZoneInfo(zone)
    if until <= after:
        return []
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date() + timedelta(days=1)
    out = []
    while day <= last:
        out.extend(t for t in _day_instants(cron, day, tz) if after < t <= until)
        day += timedelta(days=1)
    return sorted(set(out))


def next_due_times(expression: str | Cron, *, zone: str, after: datetime, count: int = 10) -> list[datetime]:
    """The next `count` due instants after `after` (looks at most ~4 years ahead: "0 0 29 2 *" still answers)."""
    cron = expression if isinstance(expression, Cron) else parse_cron(expression)
    tz = zoneinfo.ZoneInfo(zone)
    day = after.astimezone(tz).date() - timedelta(days=1)
    out: list[datetime] = []
    for _ in range(366 * 4 + 2):
        out.extend(t for t in _day_instants(cron, day, tz) if t > after and t not in out)
        if len(out) >= count:
            break
        day += timedelta(days=1)
    return sorted(out)[:count]


def validate_skip_dates(values: Iterable) -> list[str]:
    """Skip dates as sorted, unique ISO dates ("2026-12-24"); raises PolicyViolation naming the bad entry."""
    cleaned = set()
    for value in values or ():
        text = value.isoformat() if isinstance(value, date) else str(value).strip()
        if not text:
            continue
        try:
            cleaned.add(date.fromisoformat(text).isoformat())
        except ValueError:
            raise PolicyViolation(f"Skip date {text!r} is not a date such as 2026-12-24 (YYYY-MM-DD).") from None
    return sorted(cleaned)


# --- Lateness ---------------------------------------------------------------------------------------------------

ON_TIME = "on_time"
MISSED = "missed"
CATCH_UP = "catch_up"


def classify(due: Sequence[datetime], *, now: datetime, grace_seconds: int, catch_up: bool) -> list[tuple]:
    """[(due_at, ON_TIME | MISSED | CATCH_UP)]: late ones are missed; with catch-up the latest late one runs once,
    unless an on-time due time runs in the same tick (it covers the missed ones)."""
    cutoff = now - timedelta(seconds=grace_seconds)
    late = [d for d in due if d < cutoff]
    on_time = [d for d in due if d >= cutoff]
    out = [(d, MISSED) for d in late]
    if catch_up and late and not on_time:
        out[-1] = (late[-1], CATCH_UP)
    return out + [(d, ON_TIME) for d in on_time]


# --- The protocol -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreezeFact:
    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TargetFacts:
    """One host a run would change: its name, its components, the in-progress windows covering them."""

    name: str
    component_names: Sequence[str] = ()
    in_progress_window_titles: Sequence[str] = ()


@dataclass(frozen=True)
class RunFacts:
    """What the protocol needs to decide one due occurrence."""

    due_at: datetime
    zone: str
    paused_by: str | None = None  # the global pause: who paused (None: running)
    pause_reason: str = ""
    skip_dates: Sequence[str] = ()
    disruptive: bool = False  # the runbook changes a host (runbooks.policy.plan_is_disruptive)
    freezes: Sequence[FreezeFact] = ()  # freezes covering the run's instant
    phase: str = "postlaunch"
    targets: Sequence[TargetFacts] = ()  # the host, or every host of the host group


@dataclass(frozen=True)
class Verdict:
    run: bool
    reason: str  # the rule that skips it, or why it may run
    rule: str  # paused | skip_date | freeze | window | ok


def verdict(facts: RunFacts) -> Verdict:
    if facts.paused_by is not None:
        why = f": {facts.pause_reason}" if facts.pause_reason else ""
        return Verdict(False, f"all schedules paused by {facts.paused_by}{why}", "paused")
    local_day = facts.due_at.astimezone(zoneinfo.ZoneInfo(facts.zone)).date().isoformat()
    if local_day in set(facts.skip_dates):
        return Verdict(False, f"skip date {local_day}", "skip_date")
    if facts.disruptive:
        for freeze in facts.freezes:
            end = freeze.end.astimezone(zoneinfo.ZoneInfo(facts.zone))
            return Verdict(
                False,
                f"freeze “{freeze.name}” until {end:%a %Y-%m-%d %H:%M} {end.tzname()}: no scheduled change",
                "freeze",
            )
        reasons = []
        for target in facts.targets:  # a group run changes every host: each needs its window
            rule = runbook_policy.window_rule(
                phase=facts.phase,
                host_name=target.name,
                host_component_names=list(target.component_names),
                in_progress_window_titles=list(target.in_progress_window_titles),
                linked_window_status=None,
                linked_window_covers_host=False,
                disruptive=True,
            )
            if rule.needs_justification:
                components = ", ".join(target.component_names) or "no components configured"
                return Verdict(
                    False, f"post-launch: no in-progress window covers {target.name} ({components})", "window"
                )
            reasons.append(rule.reason)
        return Verdict(True, reasons[0] if reasons else "No host to change.", "ok")
    return Verdict(True, "A read-only runbook: runs any time, in a freeze too.", "ok")


def channel_reliances(phase: str):
    """For the control room and ops_doctor: where missed and refused scheduled runs are reported."""
    from ersen_ops.notifications.reliance import Reliance

    for channel in ALERT_CHANNELS:
        yield Reliance(channel, "missed and refused scheduled runbook runs")
