"""Every state change of the checks: one function per change, short transactions, audited as `system:checks`.

- `results_record()` is the checker's batch writer: it inserts a batch of results (one INSERT), moves the counters of
  the checks whose state stays (one UPDATE … FROM VALUES), and sends each check whose state changes through
  `check_apply_result()` (a row lock, its components' automatic status, the audit event, the incident automation).
- The automatic status of a component is set only through `ersen_ops.status.services.component_set_automatic_status`.
- Incidents are opened, updated and resolved only through the incidents services; once a person acts on such an
  incident (acknowledges, posts, commands, resolves) the automation stops touching it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError
from ersen_ops.status import services as status_services
from ersen_ops.status.models import Component
from incidents import selectors as incident_selectors
from incidents import services as incident_services
from incidents.choices import IncidentStatus
from maintenance import selectors as maintenance_selectors

from . import policy
from .choices import AutomationState, CheckState, CheckType, HeartbeatSource, RollupPeriod
from .models import Check, CheckIncident, CheckResult, CheckRollup
from .probes import ProbeOutcome

ACTOR = status_services.AUTOMATIC_ACTOR  # "system:checks"
logger = logging.getLogger(__name__)

CHECK_FIELDS = (
    "name", "type", "enabled", "interval_seconds", "timeout_seconds", "failures_to_down", "successes_to_up",
    "down_status", "url", "method", "expected_status", "body_contains", "body_regex", "latency_limit_ms",
    "max_redirects", "cert_warning_days", "host", "port", "heartbeat_period_seconds", "heartbeat_grace_seconds",
    "heartbeat_source", "open_incident", "incident_level", "incident_first_update_public", "resolve_after_quiet_minutes",
)


# Editing one of these runs the check at once (a shorter interval must not wait out the old one).
RESCHEDULING_FIELDS = ("type", "enabled", "interval_seconds", "url", "method", "host", "port")


def check_state(check: Check, component_names: list[str] | None = None) -> dict:
    state = {f: getattr(check, f) for f in CHECK_FIELDS}
    if component_names is not None:
        state["components"] = sorted(component_names)
    return state


# --- configuration (the admin) ----------------------------------------------------------------------------------


@transaction.atomic
def check_save(*, actor, check: Check, components=None, before: dict | None = None) -> Check:
    """Create or edit a check (audited with what changed); its components' automatic status follows at once."""
    created = check.pk is None
    kit.require(actor, "checks.add_check" if created else "checks.change_check",
                what="adding health checks" if created else "editing health checks")
    kit.clean(check, lead="The check is not valid:")
    old_components = set() if created else set(check.components.values_list("pk", flat=True))
    if created or any(before and before.get(f) != getattr(check, f) for f in RESCHEDULING_FIELDS):
        check.next_due_at = timezone.now()  # new settings are tried at once, not after the old interval
    check.save()
    if components is not None:
        check.components.set(components)
    new_components = set(check.components.values_list("pk", flat=True))
    if check.type == CheckType.HEARTBEAT and not check.heartbeat_id:
        check.heartbeat_id = secrets.token_hex(8)
        check.save(update_fields=["heartbeat_id"])
    names = list(Component.objects.filter(pk__in=new_components).values_list("name", flat=True))
    after = check_state(check, names)
    before = before or {}
    changed = sorted(k for k in after if before.get(k) != after[k])
    if created or changed:
        record(
            actor=actor,
            action="checks.check.created" if created else "checks.check.updated",
            target=check,
            data={"before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed}},
        )
    refresh_components(old_components | new_components, reason=f"check “{check.name}” was edited")
    return check


@transaction.atomic
def check_delete(*, actor, check: Check) -> None:
    kit.require(actor, "checks.delete_check", what="deleting health checks")
    components = set(check.components.values_list("pk", flat=True))
    state = check_state(check)
    if CheckIncident.objects.filter(health_check=check).exists():
        raise DomainError(
            f"“{check.name}” opened incidents; disable it (uncheck “enabled”) instead of deleting it, so they keep "
            "their history."
        )
    check.delete()
    record(actor=actor, action="checks.check.deleted", target=None, data={"before": state, "check": state["name"]})
    refresh_components(components, reason=f"check “{state['name']}” was deleted")


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def heartbeat_new_secret(*, actor, check: Check) -> str:
    """A new secret for a heartbeat check; returns the URL path (shown once: only its hash is kept)."""
    kit.require(actor, "checks.change_check", what="changing heartbeat URLs")
    check = kit.lock(check)
    if check.type != CheckType.HEARTBEAT:
        raise DomainError(f"“{check.name}” is a {check.get_type_display()} check; only heartbeat checks have a URL.")
    secret = secrets.token_urlsafe(32)
    if not check.heartbeat_id:
        check.heartbeat_id = secrets.token_hex(8)
    check.heartbeat_secret_hash = _secret_hash(secret)
    check.save(update_fields=["heartbeat_id", "heartbeat_secret_hash", "updated_at"])
    record(actor=actor, action="checks.heartbeat.secret_changed", target=check, data={"heartbeat_id": check.heartbeat_id})
    return heartbeat_path(check.heartbeat_id, secret)


def heartbeat_path(heartbeat_id: str, secret: str) -> str:
    from django.urls import reverse

    return reverse("checks:heartbeat", kwargs={"heartbeat_id": heartbeat_id, "secret": secret})


def heartbeat_ping(*, heartbeat_id: str, secret: str, now: datetime | None = None) -> Check | None:
    """A job called its heartbeat URL: a passing result. None when the id or the secret is wrong (compared in constant
    time), so the caller answers 404 and learns nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        check = (
            Check.objects.select_for_update()
            .filter(heartbeat_id=heartbeat_id, type=CheckType.HEARTBEAT)
            .exclude(heartbeat_id="")
            .first()
        )
        given = _secret_hash(secret)
        stored = check.heartbeat_secret_hash if check is not None and check.heartbeat_secret_hash else "0" * 64
        if not hmac.compare_digest(given, stored) or check is None:
            return None
        _heartbeat_locked(check, "heartbeat received", now=now)
    return check


def _heartbeat_locked(check: Check, message: str, *, now: datetime, checker: str = "heartbeat") -> None:
    """A beat of a heartbeat check (locked): the last ping, a passing result, and what a state change sets off."""
    check.last_ping_at = now
    check.save(update_fields=["last_ping_at"])
    _apply_locked(check, ProbeOutcome(True, message), due_at=now, started_at=now, finished_at=now, checker=checker,
                  now=now)


def heartbeat_from_backup(event) -> list[int]:
    """A verified backup with a verified off-host copy landed (`runbooks.backup_events`, registered in `ready()`):
    a beat of every enabled heartbeat check fed by backups — the backup freshness check. Its incident (opened when the
    beats stopped for longer than the period) moves on at once: recovered, and resolved when its quiet period is 0.
    Returns the checks' ids."""
    beaten = []
    ids = Check.objects.filter(
        type=CheckType.HEARTBEAT, heartbeat_source=HeartbeatSource.VERIFIED_BACKUP, enabled=True
    ).values_list("pk", flat=True)
    copies = ", ".join(event.copies)
    message = f"verified backup {event.path} of {event.host_name}, off-host copy {copies} (run #{event.execution_id})"
    for check_id in ids:
        with transaction.atomic():
            check = Check.objects.select_for_update().get(pk=check_id)
            _heartbeat_locked(check, message[:2000], now=event.at, checker="runbooks")
            record(actor=ACTOR, action="checks.heartbeat.backup_landed", target=check,
                   data={"backup": event.backup_id, "path": event.path, "host": event.host_name,
                         "copies": list(event.copies), "execution": event.execution_id})
        try:
            with transaction.atomic():
                automate(check, now=event.at)  # recovered → resolved at once when the quiet period is 0
        except DomainError as exc:
            logger.warning("automation of check %s refused: %s (the sweeper tries again)", check_id, exc)
        beaten.append(check_id)
    return beaten


# --- results (the checker's batch writer) ------------------------------------------------------------------------


@dataclass
class ResultIn:
    """One probe's result as the checker hands it over, with the claim's snapshot of the check."""

    check_id: int
    type: str
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: ProbeOutcome
    state: str
    consecutive_failures: int
    consecutive_successes: int
    failures_to_down: int
    successes_to_up: int
    interval_seconds: int
    component_ids: list[int] = field(default_factory=list)


def _lag_ms(due_at: datetime, started_at: datetime) -> int:
    return max(0, int((started_at - due_at).total_seconds() * 1000))


def _result_row(check_id, outcome: ProbeOutcome, *, due_at, started_at, finished_at, in_maintenance, checker):
    return CheckResult(
        health_check_id=check_id,
        at=finished_at,
        due_at=due_at,
        lag_ms=_lag_ms(due_at, started_at),
        passed=outcome.passed,
        in_maintenance=in_maintenance,
        latency_ms=outcome.latency_ms,
        status_code=outcome.status_code,
        message=outcome.message[:2000],
        checker=checker[:100],
    )


def components_of(check_ids) -> dict[int, list[int]]:
    through = Check.components.through
    result: dict[int, list[int]] = defaultdict(list)
    for check_id, component_id in through.objects.filter(check_id__in=list(check_ids)).values_list(
        "check_id", "component_id"
    ):
        result[check_id].append(component_id)
    return result


_BATCH_UPDATE_SQL = """
UPDATE checks_check AS c SET
    consecutive_failures = v.failures, consecutive_successes = v.successes, last_result_at = v.at,
    last_passed = v.passed, last_message = v.message, last_latency_ms = v.latency, next_due_at = v.next_due,
    leased_by = '', lease_until = NULL
FROM (VALUES {values}) AS v(id, failures, successes, at, passed, message, latency, next_due, state_expected)
WHERE c.id = v.id AND c.leased_by = %s AND c.state = v.state_expected
"""


def results_record(*, results: list[ResultIn], checker: str, now: datetime | None = None) -> dict:
    """Write a batch of results: one INSERT, one UPDATE for the checks whose state stays, and a short locked
    transaction per check whose state changes (or a heartbeat, whose last ping may have moved meanwhile)."""
    now = now or timezone.now()
    if not results:
        return {"results": 0, "changed": 0}
    existing = set(Check.objects.filter(pk__in={r.check_id for r in results}).values_list("pk", flat=True))
    results = [r for r in results if r.check_id in existing]  # a check deleted while it was probed: drop its result
    all_components = {cid for r in results for cid in r.component_ids}
    in_maintenance = maintenance_selectors.component_ids_in_maintenance(all_components) if all_components else set()
    steady, changing = [], []
    rows = []
    for r in results:
        maint = bool(in_maintenance.intersection(r.component_ids))
        if r.type == CheckType.HEARTBEAT:
            changing.append((r, maint))
            continue
        counters = policy.next_counters(
            state=r.state, failures=r.consecutive_failures, successes=r.consecutive_successes,
            passed=r.outcome.passed, failures_to_down=r.failures_to_down, successes_to_up=r.successes_to_up,
        )
        if counters.state != r.state:
            changing.append((r, maint))
            continue
        rows.append(_result_row(r.check_id, r.outcome, due_at=r.due_at, started_at=r.started_at,
                                finished_at=r.finished_at, in_maintenance=maint, checker=checker))
        steady.append((r, counters))
    with transaction.atomic():
        CheckResult.objects.bulk_create(rows, batch_size=2000)
        if steady and connection.vendor != "postgresql":
            for r, counters in steady:  # SQLite (`make run` without PostgreSQL): row by row
                Check.objects.filter(pk=r.check_id, leased_by=checker, state=r.state).update(
                    consecutive_failures=counters.consecutive_failures,
                    consecutive_successes=counters.consecutive_successes, last_result_at=r.finished_at,
                    last_passed=r.outcome.passed, last_message=r.outcome.message[:2000],
                    last_latency_ms=r.outcome.latency_ms, leased_by="", lease_until=None,
                    next_due_at=policy.next_due(due_at=r.due_at, interval_s=r.interval_seconds, now=r.finished_at),
                )
        elif steady:
            values, params = [], []
            for r, counters in steady:
                values.append("(%s, %s, %s, %s::timestamptz, %s, %s, %s::integer, %s::timestamptz, %s)")
                params += [
                    r.check_id, counters.consecutive_failures, counters.consecutive_successes, r.finished_at,
                    r.outcome.passed, r.outcome.message[:2000], r.outcome.latency_ms,
                    policy.next_due(due_at=r.due_at, interval_s=r.interval_seconds, now=r.finished_at), r.state,
                ]
            sql = _BATCH_UPDATE_SQL.format(values=", ".join(values))
            with connection.cursor() as cursor:
                cursor.execute(sql, [*params, checker])
    changed = 0
    for r, maint in changing:
        if check_apply_result(result=r, checker=checker, in_maintenance=maint, now=now):
            changed += 1
    return {"results": len(results), "changed": changed}


def check_apply_result(*, result: ResultIn, checker: str, in_maintenance: bool, now: datetime) -> bool:
    """One result through the row lock (fresh counters). True if the check's state changed."""
    with transaction.atomic():
        check = Check.objects.select_for_update().filter(pk=result.check_id).first()
        if check is None:
            return False
        outcome = result.outcome
        if check.type == CheckType.HEARTBEAT:
            problem = policy.heartbeat_problem(
                last_ping_at=check.last_ping_at, since=check.created_at, period_s=check.heartbeat_period_seconds or 0,
                grace_s=check.heartbeat_grace_seconds, now=result.finished_at,
            )
            if problem is None:
                # Pings record their own passes; a heartbeat on time writes no row, the check is only rescheduled.
                _reschedule(check, result, checker)
                return False
            outcome = ProbeOutcome(False, problem)
        return _apply_locked(
            check, outcome, due_at=result.due_at, started_at=result.started_at, finished_at=result.finished_at,
            checker=checker, now=now, in_maintenance=in_maintenance, reschedule_from=result,
        )


def _reschedule(check: Check, result: ResultIn, checker: str) -> None:
    if check.leased_by == checker:
        check.next_due_at = policy.next_due(due_at=result.due_at, interval_s=check.interval_seconds,
                                            now=result.finished_at)
        check.leased_by, check.lease_until = "", None
        check.save(update_fields=["next_due_at", "leased_by", "lease_until"])


def _apply_locked(check: Check, outcome: ProbeOutcome, *, due_at, started_at, finished_at, checker, now,
                  in_maintenance: bool | None = None, reschedule_from: ResultIn | None = None) -> bool:
    """Inside a transaction with `check` locked: the result row, the counters, and what a state change sets off."""
    component_ids = list(check.components.values_list("pk", flat=True))
    if in_maintenance is None:
        in_maintenance = bool(maintenance_selectors.component_ids_in_maintenance(component_ids))
    _result_row(check.pk, outcome, due_at=due_at, started_at=started_at, finished_at=finished_at,
                in_maintenance=in_maintenance, checker=checker).save()
    counters = policy.next_counters(
        state=check.state, failures=check.consecutive_failures, successes=check.consecutive_successes,
        passed=outcome.passed, failures_to_down=check.failures_to_down, successes_to_up=check.successes_to_up,
    )
    before = check.state
    check.consecutive_failures = counters.consecutive_failures
    check.consecutive_successes = counters.consecutive_successes
    check.last_result_at, check.last_passed = finished_at, outcome.passed
    check.last_message, check.last_latency_ms = outcome.message[:2000], outcome.latency_ms
    fields = ["consecutive_failures", "consecutive_successes", "last_result_at", "last_passed", "last_message",
              "last_latency_ms"]
    if reschedule_from is not None and check.leased_by == checker:
        check.next_due_at = policy.next_due(due_at=due_at, interval_s=check.interval_seconds, now=finished_at)
        check.leased_by, check.lease_until = "", None
        fields += ["next_due_at", "leased_by", "lease_until"]
    changed = counters.state != before
    if changed:
        check.state, check.state_changed_at = counters.state, finished_at
        fields += ["state", "state_changed_at"]
    check.save(update_fields=fields)
    if not changed:
        return False
    record(
        actor=ACTOR,
        action="checks.check.state_changed",
        target=check,
        data={
            "before": {"state": before},
            "after": {"state": check.state},
            "result": outcome.message,
            "in_maintenance": in_maintenance,
            "components": component_ids,
        },
    )
    refresh_components(component_ids, reason=f"check “{check.name}” is {check.state}: {outcome.message}", now=now)
    try:
        with transaction.atomic():  # a refusal of the incidents services must not undo the state change
            automate(check, now=now, in_maintenance=in_maintenance)
    except DomainError as exc:
        logger.warning("automation of check %s refused: %s (the sweeper tries again)", check.pk, exc)
    return True


# --- the components' automatic status ------------------------------------------------------------------------


def refresh_components(component_ids, *, reason: str, now: datetime | None = None) -> list[int]:
    """Set each component's automatic status to what its down checks say (idempotent)."""
    ids = set(component_ids)
    if not ids:
        return []
    down: dict[int, list[str]] = defaultdict(list)
    for cid, status in Check.components.through.objects.filter(
        component_id__in=ids, check__enabled=True, check__state=CheckState.DOWN
    ).values_list("component_id", "check__down_status"):
        down[cid].append(status)
    by_status: dict[str, list[int]] = defaultdict(list)
    for cid in ids:
        by_status[policy.automatic_status(down.get(cid, []))].append(cid)
    changed = []
    for status, cids in by_status.items():
        changed += status_services.component_set_automatic_status(
            component_ids=cids, status=status, reason=reason, actor=ACTOR, now=now
        )
    return changed


# --- incident automation --------------------------------------------------------------------------------------


def _incident_text_down(check: Check) -> str:
    return f"Our health check “{check.name}” is failing: {check.last_message}. We are looking into it."


def automate(check: Check, *, now: datetime, in_maintenance: bool | None = None) -> str:
    """Move the automation of one check one step (idempotent): open, note recovery, resolve, or let go.

    Returns what it did ("" if nothing). Called on every state change and by the sweeper."""
    with transaction.atomic():
        check = Check.objects.select_for_update().get(pk=check.pk)
        link = CheckIncident.objects.select_for_update().filter(health_check=check, closed_at__isnull=True).first()
        if link is not None and (
            link.incident_id in incident_selectors.incidents_taken_over([link.incident_id])
            or link.incident.resolved_at is not None
        ):
            link.state, link.closed_at = AutomationState.TAKEN_OVER, now
            link.save(update_fields=["state", "closed_at"])
            record(actor=ACTOR, action="checks.automation.taken_over", target=check,
                   data={"incident": link.incident.public_id})
            return "taken over"
        if check.state == CheckState.DOWN:
            if link is not None:
                if link.state == AutomationState.RECOVERED:
                    incident_services.incident_post_update(
                        actor=ACTOR, incident=link.incident, status=IncidentStatus.INVESTIGATING,
                        body=f"The health check “{check.name}” is failing again: {check.last_message}.",
                        public=check.incident_first_update_public, now=now,
                    )
                    link.state, link.recovered_at = AutomationState.OPEN, None
                    link.save(update_fields=["state", "recovered_at"])
                    return "failing again"
                return ""
            if not check.open_incident or not check.enabled:
                return ""
            if in_maintenance is None:
                in_maintenance = bool(maintenance_selectors.component_ids_in_maintenance(
                    check.components.values_list("pk", flat=True)))
            if in_maintenance:
                return ""  # a window is in progress: failures are maintenance (no incident, nobody paged)
            if check.state_changed_at and CheckIncident.objects.filter(
                health_check=check, opened_at__gte=check.state_changed_at
            ).exists():
                return ""  # this outage already had its incident (one per outage)
            return _open_incident(check, now=now)
        if check.state == CheckState.UP and link is not None:
            if link.state == AutomationState.OPEN:
                quiet = check.resolve_after_quiet_minutes
                incident_services.incident_post_update(
                    actor=ACTOR, incident=link.incident, status=IncidentStatus.MONITORING,
                    body=f"The health check “{check.name}” passes again ({check.last_message}). "
                    f"We are watching it; the incident resolves after {quiet} quiet minute{'s' if quiet != 1 else ''}.",
                    public=check.incident_first_update_public, now=now,
                )
                link.state, link.recovered_at = AutomationState.RECOVERED, now
                link.save(update_fields=["state", "recovered_at"])
                return "recovered"
            if link.state == AutomationState.RECOVERED and now - link.recovered_at >= timedelta(
                minutes=check.resolve_after_quiet_minutes
            ):
                incident_services.incident_resolve(
                    actor=ACTOR, incident=link.incident, now=now,
                    body=f"Resolved: the health check “{check.name}” has passed for "
                    f"{check.resolve_after_quiet_minutes} minutes.",
                )
                link.state, link.closed_at = AutomationState.RESOLVED, now
                link.save(update_fields=["state", "closed_at"])
                return "resolved"
        return ""


def _open_incident(check: Check, *, now: datetime) -> str:
    components = list(check.components.values_list("pk", flat=True))
    text = _incident_text_down(check)
    incident = incident_services.incident_open(
        actor=ACTOR, title=f"{check.name} is down", level=check.incident_level,
        components={cid: check.down_status for cid in components},
        message=text if check.incident_first_update_public else "", now=now,
    )
    if not check.incident_first_update_public:
        incident_services.incident_post_update(
            actor=ACTOR, incident=incident, status=IncidentStatus.INVESTIGATING, body=text, public=False, now=now
        )
    CheckIncident.objects.create(health_check=check, incident=incident, opened_at=now)
    record(actor=ACTOR, action="checks.automation.incident_opened", target=check,
           data={"incident": incident.public_id, "level": check.incident_level})
    return "opened"


def automation_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Safety net (every minute): resolve after the quiet period, notice take-overs, open what a window held back."""
    now = now or timezone.now()
    counts: dict[str, int] = defaultdict(int)
    candidates = Check.objects.filter(
        Q(automated_incidents__closed_at__isnull=True) | Q(state=CheckState.DOWN, open_incident=True, enabled=True)
    ).distinct()
    for check in candidates:
        try:
            did = automate(check, now=now)
        except DomainError as exc:
            logger.warning("automation of check %s refused: %s", check.pk, exc)
            counts["refused"] += 1
            continue
        if did:
            counts[did] += 1
    return dict(counts)


# --- rollups and pruning --------------------------------------------------------------------------------------

_ROLLUP_SQL = """
INSERT INTO checks_checkrollup (health_check_id, period, start, total, passed, failed, in_maintenance,
                                latency_sum_ms, latency_max_ms)
SELECT health_check_id, %(period)s, date_trunc(%(unit)s, at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*),
       count(*) FILTER (WHERE passed), count(*) FILTER (WHERE NOT passed), count(*) FILTER (WHERE in_maintenance),
       coalesce(sum(latency_ms), 0), coalesce(max(latency_ms), 0)
FROM {source}
WHERE at >= %(since)s AND at < %(until)s
GROUP BY 1, 3
ON CONFLICT (health_check_id, period, start) DO UPDATE SET
    total = EXCLUDED.total, passed = EXCLUDED.passed, failed = EXCLUDED.failed,
    in_maintenance = EXCLUDED.in_maintenance, latency_sum_ms = EXCLUDED.latency_sum_ms,
    latency_max_ms = EXCLUDED.latency_max_ms
"""


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def results_rollup(*, now: datetime | None = None, hours: int = 3) -> None:
    """Recompute the hourly rollups of the last `hours` hours from the raw results and the daily rollups of the
    days they touch from the hourly ones (idempotent: re-running gives the same rows)."""
    now = now or timezone.now()
    since = _floor_hour(now) - timedelta(hours=hours)
    if connection.vendor != "postgresql":
        _rollup_portable(since=since, until=now)
        return
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP_SQL.format(source="checks_checkresult"),
                       {"period": RollupPeriod.HOUR, "unit": "hour", "since": since, "until": now})
        day_start = since.replace(hour=0)
        cursor.execute(
            """
            INSERT INTO checks_checkrollup (health_check_id, period, start, total, passed, failed, in_maintenance,
                                            latency_sum_ms, latency_max_ms)
            SELECT health_check_id, %(period)s, date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                   sum(total), sum(passed), sum(failed), sum(in_maintenance), sum(latency_sum_ms), max(latency_max_ms)
            FROM checks_checkrollup WHERE period = 'hour' AND start >= %(since)s AND start < %(until)s
            GROUP BY 1, 3
            ON CONFLICT (health_check_id, period, start) DO UPDATE SET
                total = EXCLUDED.total, passed = EXCLUDED.passed, failed = EXCLUDED.failed,
                in_maintenance = EXCLUDED.in_maintenance, latency_sum_ms = EXCLUDED.latency_sum_ms,
                latency_max_ms = EXCLUDED.latency_max_ms
            """,
            {"period": RollupPeriod.DAY, "since": day_start, "until": now},
        )


def _rollup_portable(*, since: datetime, until: datetime) -> None:
    """The rollups computed in Python (SQLite has no date_trunc): same rows as the SQL path."""
    hours: dict[tuple[int, datetime], dict] = {}
    for r in CheckResult.objects.filter(at__gte=since, at__lt=until).only(
        "health_check_id", "at", "passed", "in_maintenance", "latency_ms"
    ):
        key = (r.health_check_id, _floor_hour(r.at))
        row = hours.setdefault(key, {"total": 0, "passed": 0, "failed": 0, "in_maintenance": 0, "latency_sum_ms": 0,
                                     "latency_max_ms": 0})
        row["total"] += 1
        row["passed" if r.passed else "failed"] += 1
        row["in_maintenance"] += r.in_maintenance
        row["latency_sum_ms"] += r.latency_ms or 0
        row["latency_max_ms"] = max(row["latency_max_ms"], r.latency_ms or 0)
    for (check_id, start), values in hours.items():
        CheckRollup.objects.update_or_create(health_check_id=check_id, period=RollupPeriod.HOUR, start=start,
                                             defaults=values)
    days: dict[tuple[int, datetime], dict] = {}
    for h in CheckRollup.objects.filter(period=RollupPeriod.HOUR, start__gte=since.replace(hour=0), start__lt=until):
        key = (h.health_check_id, h.start.replace(hour=0))
        row = days.setdefault(key, {"total": 0, "passed": 0, "failed": 0, "in_maintenance": 0, "latency_sum_ms": 0,
                                    "latency_max_ms": 0})
        for f in ("total", "passed", "failed", "in_maintenance", "latency_sum_ms"):
            row[f] += getattr(h, f)
        row["latency_max_ms"] = max(row["latency_max_ms"], h.latency_max_ms)
    for (check_id, start), values in days.items():
        CheckRollup.objects.update_or_create(health_check_id=check_id, period=RollupPeriod.DAY, start=start,
                                             defaults=values)


def results_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Keep storage bounded: raw results OPS_CHECK_RAW_DAYS, hourly rollups OPS_CHECK_HOURLY_DAYS, daily ones
    OPS_CHECK_DAILY_DAYS. Deletes in chunks (short transactions)."""
    now = now or timezone.now()
    counts = {"raw": 0, "hour": 0, "day": 0}
    raw_before = now - timedelta(days=settings.OPS_CHECK_RAW_DAYS)
    # Roll up what is about to go, so pruning never loses an hour that the periodic rollup missed.
    oldest = CheckResult.objects.filter(at__lt=raw_before).aggregate(m=Min("at"))["m"]
    if oldest is not None:
        hours = int((now - oldest).total_seconds() // 3600) + 2
        results_rollup(now=raw_before, hours=min(hours, 24 * 400))
    while True:
        ids = list(CheckResult.objects.filter(at__lt=raw_before).order_by().values_list("pk", flat=True)[:10_000])
        if not ids:
            break
        counts["raw"] += CheckResult.objects.filter(pk__in=ids).delete()[0]
    counts["hour"] = CheckRollup.objects.filter(
        period=RollupPeriod.HOUR, start__lt=now - timedelta(days=settings.OPS_CHECK_HOURLY_DAYS)
    ).delete()[0]
    counts["day"] = CheckRollup.objects.filter(
        period=RollupPeriod.DAY, start__lt=now - timedelta(days=settings.OPS_CHECK_DAILY_DAYS)
    ).delete()[0]
    return counts




# --- checklist evidence ---------------------------------------------------------------------------------------


def evidence_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Approve "Test core functionality" / "Smoke test" when every check of the window's components passed N times
    since the window started / completed (see checks.evidence)."""
    from . import evidence

    return evidence.evidence_sweep(now=now or timezone.now())
