"""Every state change of the scheduler: schedules (save, delete), the global pause, and the tick that decides due
occurrences and launches runs through the runbooks services (lock, check, change, audit, enqueue after commit).

The tick (`tick`, every minute from the worker's django-q schedule): for each enabled schedule, under its row lock,
the due times since `evaluated_until` are classified (on time / missed / catch-up, `policy.classify`), each decided by
the protocol (`policy.verdict`) and recorded once as an `Occurrence` (unique per schedule × due time). A launch the
runbooks service refuses (disabled runbook, unpinned host, bad parameters) is a skipped occurrence with the service's
words; nothing leaves the tick as an exception for one schedule. Misses and refusals alert Slack once per tick and
schedule (not once per due time).
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError, PolicyViolation
from ersen_ops.core.kit import clean, lock, now_or, require
from ersen_ops.core.services import current_phase
from ersen_ops.core.wording import duration
from runbooks import policy as runbook_policy
from runbooks import selectors as runbook_selectors
from runbooks import services as runbook_services
from runbooks.choices import LaunchChannel
from scheduler import policy
from scheduler.choices import Alert, Event, Outcome
from scheduler.models import Occurrence, Schedule, SchedulerSwitch

logger = logging.getLogger(__name__)

SYSTEM_SCHEDULER = "system:scheduler"
MIN_PAUSE_REASON_CHARS = 5


def zone() -> str:
    return settings.OPS_MAINTENANCE_TZ


# --- Schedules --------------------------------------------------------------------------------------------------


def schedule_state(schedule: Schedule) -> dict:
    return {
        "name": schedule.name,
        "runbook": schedule.runbook.slug if schedule.runbook_id else None,
        "host": schedule.host.name if schedule.host_id else None,
        "host_group": schedule.host_group.slug if schedule.host_group_id else None,
        "overrides": schedule.overrides or {},
        "cron": schedule.cron,
        "enabled": schedule.enabled,
        "catch_up": schedule.catch_up,
        "batch_size": schedule.batch_size,
        "max_failures": schedule.max_failures,
        "skip_dates": list(schedule.skip_dates or []),
    }


def schedule_validate(schedule: Schedule) -> None:
    """The cron expression, the skip dates and the parameters (through the runbooks plan builder, as a launch)."""
    policy.parse_cron(schedule.cron)
    schedule.skip_dates = policy.validate_skip_dates(schedule.skip_dates)
    if schedule.runbook_id is None:
        raise PolicyViolation("A schedule needs a runbook.")
    if (schedule.host_id is None) == (schedule.host_group_id is None):
        raise PolicyViolation("A schedule runs on a host or on a host group: choose exactly one of the two.")
    if not isinstance(schedule.overrides or {}, dict):
        raise PolicyViolation('Parameters must be a JSON object such as {"service": "traefik"}.')
    steps = runbook_selectors.runbook_steps(schedule.runbook)
    # Checked as a launch would: against each target host's parameter defaults (a group's hosts as they are now).
    for host in target_hosts(schedule) or [None]:
        runbook_policy.build_plan(
            steps,
            host_defaults=(host.parameter_defaults or {}) if host is not None else {},
            overrides=schedule.overrides or {},
            max_timeout=runbook_selectors.max_step_timeout(),
        )
    if schedule.batch_size < 1 or schedule.max_failures < 1:
        raise PolicyViolation(
            f"Batch size and max failures must be at least 1 (got {schedule.batch_size} and {schedule.max_failures})."
        )


def schedule_save(*, actor, schedule: Schedule, now: datetime | None = None, request=None) -> Schedule:
    """Create or edit a schedule. A new or re-enabled schedule starts counting due times from now (the time it was
    off is not "missed")."""
    creating = schedule.pk is None
    require(
        actor,
        "scheduler.add_schedule" if creating else "scheduler.change_schedule",
        what="creating schedules" if creating else "editing schedules",
    )
    now = now_or(now)
    schedule_validate(schedule)
    user, name = actor_fields(actor)
    with transaction.atomic():
        before = None
        if not creating:
            old = lock(schedule)
            before = schedule_state(old)
            if schedule.enabled and not old.enabled:
                schedule.evaluated_until = now
        else:
            schedule.evaluated_until = now
            schedule.created_by, schedule.created_by_name = user, name
        schedule.updated_by, schedule.updated_by_name = user, name
        clean(schedule)
        schedule.save()
        after = schedule_state(schedule)
        record(
            actor=actor,
            action=Event.SCHEDULE_CREATED if creating else Event.SCHEDULE_CHANGED,
            target=schedule,
            data={"before": before, "after": after},
            request=request,
        )
    return schedule


def schedule_delete(*, actor, schedule: Schedule, request=None) -> None:
    """Delete a schedule that never recorded an occurrence (one with history is disabled instead: it is a record)."""
    require(actor, "scheduler.delete_schedule", what="deleting schedules")
    with transaction.atomic():
        locked = lock(schedule)
        count = locked.occurrences.count()
        if count:
            raise DomainError(
                f"Schedule “{locked.name}” has {count} recorded occurrence(s): disable it instead of deleting it "
                "(its history is a record)."
            )
        state = schedule_state(locked)
        record(
            actor=actor,
            action=Event.SCHEDULE_DELETED,
            target=locked,
            data={"before": state, "after": None},
            request=request,
        )
        locked.delete()


# --- The global pause -------------------------------------------------------------------------------------------


def switch_get() -> SchedulerSwitch:
    obj, _ = SchedulerSwitch.objects.get_or_create(id=1)
    return obj


def _switch_change(*, actor, paused: bool, reason: str, now, request=None) -> SchedulerSwitch:
    verb = "pausing all schedules" if paused else "resuming all schedules"
    require(actor, "scheduler.pause_schedules", what=verb)
    text = (reason or "").strip()
    if len(text) < MIN_PAUSE_REASON_CHARS:
        raise PolicyViolation(
            f"Say why ({'pausing' if paused else 'resuming'}): at least {MIN_PAUSE_REASON_CHARS} characters; "
            f"got {len(text)}."
        )
    now = now_or(now)
    user, name = actor_fields(actor)
    with transaction.atomic():
        switch_get()
        switch = SchedulerSwitch.objects.select_for_update().get(id=1)
        if switch.paused == paused:
            state = (
                f"paused by {switch.paused_by_name} since {switch.paused_at:%Y-%m-%d %H:%M} UTC"
                if paused
                else "running"
            )
            raise DomainError(f"All schedules are already {state}.")
        before = {"paused": switch.paused, "by": switch.paused_by_name, "reason": switch.reason}
        switch.paused = paused
        switch.paused_at = now
        switch.paused_by, switch.paused_by_name = user, name
        switch.reason = text
        switch.full_clean()
        switch.save()
        record(
            actor=actor,
            action=Event.PAUSED if paused else Event.RESUMED,
            target=switch,
            data={"before": before, "after": {"paused": paused, "by": name, "reason": text}},
            request=request,
        )
    return switch


def scheduler_pause(*, actor, reason: str, now: datetime | None = None, request=None) -> SchedulerSwitch:
    """Pause every schedule: due occurrences are recorded as skipped ("all schedules paused by …"), not missed, and
    never caught up after the resume."""
    return _switch_change(actor=actor, paused=True, reason=reason, now=now, request=request)


def scheduler_resume(*, actor, reason: str, now: datetime | None = None, request=None) -> SchedulerSwitch:
    return _switch_change(actor=actor, paused=False, reason=reason, now=now, request=request)


# --- The tick ---------------------------------------------------------------------------------------------------


def _freezes_at(now: datetime) -> list[policy.FreezeFact]:
    from maintenance.selectors import freezes_overlapping

    return [
        policy.FreezeFact(name=f.name, start=f.start, end=f.end)
        for f in freezes_overlapping(start=now, end=now + timedelta(microseconds=1))
    ]


def target_facts(hosts, *, disruptive: bool, phase: str, freezes) -> list[policy.TargetFacts]:
    """Each host's name, components and (only when the window rule will ask) the in-progress windows covering it."""
    ask = disruptive and phase == "postlaunch" and not freezes
    return [
        policy.TargetFacts(
            name=host.name,
            component_names=[c.name for c in host.components.all()],
            in_progress_window_titles=[w.title for w in runbook_selectors.in_progress_windows_for_host(host)]
            if ask
            else [],
        )
        for host in hosts
    ]


def run_facts(
    schedule: Schedule, *, due_at: datetime, switch: SchedulerSwitch, phase: str, freezes, disruptive: bool, targets
) -> policy.RunFacts:
    return policy.RunFacts(
        due_at=due_at,
        zone=zone(),
        paused_by=switch.paused_by_name if switch.paused else None,
        pause_reason=switch.reason if switch.paused else "",
        skip_dates=schedule.skip_dates or (),
        disruptive=disruptive,
        freezes=freezes,
        phase=phase,
        targets=targets,
    )


def target_hosts(schedule: Schedule) -> list:
    """The host, or the group's enabled hosts in run order (runbooks' one rule for resolving a group)."""
    if schedule.host_group_id:
        return runbook_selectors.host_group_hosts(schedule.host_group)
    return [schedule.host]


def _record(occurrence: Occurrence) -> None:
    record(
        actor=SYSTEM_SCHEDULER,
        action=Event.OCCURRENCE_RECORDED,
        target=occurrence,
        data={
            "schedule": occurrence.schedule.name,
            "due_at": occurrence.due_at.isoformat(),
            "outcome": occurrence.outcome,
            "catch_up": occurrence.catch_up,
            "reason": occurrence.reason,
            "execution": occurrence.execution_id,
            "group_run": occurrence.group_run_id,
        },
    )


def _launch(schedule: Schedule, occurrence: Occurrence, verdict: policy.Verdict, now: datetime) -> str | None:
    """Launch the run of `occurrence`; return the refusal text when the runbooks service refused it."""
    common = {
        "actor": SYSTEM_SCHEDULER,
        "runbook": schedule.runbook,
        "overrides": schedule.overrides or None,
        "justification": f"Schedule “{schedule.name}”: {verdict.reason}",
        "via": LaunchChannel.SCHEDULE,
        "now": now,
    }
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves nothing of the launch behind
            if schedule.host_group_id:
                occurrence.group_run = runbook_services.group_run_launch(
                    host_group=schedule.host_group,
                    batch_size=schedule.batch_size,
                    max_failures=schedule.max_failures,
                    **common,
                )
            else:
                occurrence.execution = runbook_services.execution_launch(host=schedule.host, **common)
    except DomainError as exc:
        return f"launch refused: {exc}"  # the service's words, with its details (which hosts, why)
    occurrence.outcome = Outcome.RAN
    return None


def _alert(schedule: Schedule, *, event: str, times: list[datetime], reasons: list[str]) -> None:
    from ersen_ops.notifications.services import notify

    when = ", ".join(f"{t.astimezone(zoneinfo.ZoneInfo(zone())):%a %H:%M %Z}" for t in times[:5])
    more = f" and {len(times) - 5} more" if len(times) > 5 else ""
    if event == Alert.MISSED:
        subject = f"Schedule “{schedule.name}”: {len(times)} run(s) missed (the worker was down)"
        body = f"Missed: {when}{more}." + (" Caught up once: see the schedule." if schedule.catch_up else "")
    else:
        subject = f"Schedule “{schedule.name}”: the scheduled run was refused"
        body = f"{reasons[0]}\nDue: {when}{more}."
    notify(
        event=event,
        channels=policy.ALERT_CHANNELS,
        subject=subject,
        body=body,
        related=schedule,
        actor=SYSTEM_SCHEDULER,
        dedup_key=f"schedule-{schedule.pk}-{event}-{times[0]:%Y%m%dT%H%M}",
        severity="warning",
    )


def _tick_schedule(schedule_id: int, *, now, grace: int, phase: str, switch, freezes) -> dict:
    counts = {Outcome.RAN: 0, Outcome.SKIPPED: 0, Outcome.MISSED: 0}
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(of=("self",))
            .select_related("runbook", "host", "host_group")
            .filter(pk=schedule_id, enabled=True)
            .first()
        )
        if schedule is None:
            return counts
        start = max(schedule.evaluated_until, now - policy.MAX_LOOKBACK)
        due = policy.due_times(schedule.cron, zone=zone(), after=start, until=now)
        if not due:
            return counts
        disruptive = runbook_selectors.runbook_changes_a_host(schedule.runbook)
        targets = target_facts(target_hosts(schedule), disruptive=disruptive, phase=phase, freezes=freezes)
        missed, refused, refusals = [], [], []
        for due_at, kind in policy.classify(due, now=now, grace_seconds=grace, catch_up=schedule.catch_up):
            occurrence, created = Occurrence.objects.get_or_create(
                schedule=schedule,
                due_at=due_at,
                defaults={"outcome": Outcome.SKIPPED, "recorded_at": now, "catch_up": kind == policy.CATCH_UP},
            )
            if not created:  # another tick decided it
                continue
            occurrence.schedule = schedule
            facts = run_facts(
                schedule,
                due_at=due_at,
                switch=switch,
                phase=phase,
                freezes=freezes,
                disruptive=disruptive,
                targets=targets,
            )
            verdict = policy.verdict(facts)
            if switch.paused:
                occurrence.outcome, occurrence.reason = Outcome.SKIPPED, verdict.reason
            elif kind == policy.MISSED:
                occurrence.outcome = Outcome.MISSED
                late = duration(now - due_at)
                occurrence.reason = f"the worker was down: seen {late} after it was due (grace {grace} s)"
                missed.append(due_at)
            elif not verdict.run:
                occurrence.outcome, occurrence.reason = Outcome.SKIPPED, verdict.reason
            else:
                refusal = _launch(schedule, occurrence, verdict, now)
                if refusal:
                    occurrence.outcome, occurrence.reason = Outcome.SKIPPED, refusal
                    refused.append(due_at)
                    refusals.append(refusal)
                elif kind == policy.CATCH_UP:
                    occurrence.reason = f"catch-up: run once for the missed due time (grace {grace} s)"
                    missed.append(due_at)
            occurrence.save()
            _record(occurrence)
            counts[occurrence.outcome] += 1
        schedule.evaluated_until = due[-1]
        schedule.save(update_fields=["evaluated_until"])
        if missed:
            _alert(schedule, event=Alert.MISSED, times=missed, reasons=[])
        if refused:
            _alert(schedule, event=Alert.REFUSED, times=refused, reasons=refusals)
    return counts


def tick(*, now: datetime | None = None) -> dict:
    """Decide every enabled schedule's due occurrences up to `now` (see the module docstring)."""
    now = now_or(now)
    grace = settings.OPS_SCHEDULE_GRACE_SECONDS
    phase = current_phase()
    switch = switch_get()
    freezes = _freezes_at(now)
    totals = {Outcome.RAN: 0, Outcome.SKIPPED: 0, Outcome.MISSED: 0, "errors": 0}
    for schedule_id in Schedule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True):
        try:
            counts = _tick_schedule(schedule_id, now=now, grace=grace, phase=phase, switch=switch, freezes=freezes)
        except Exception:  # one broken schedule must not stop the others; the next tick tries it again
            logger.exception("scheduler tick failed for schedule #%s", schedule_id)
            totals["errors"] += 1
            continue
        for key, value in counts.items():
            totals[key] += value
    return {str(k): v for k, v in totals.items()}
