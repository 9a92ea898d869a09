"""Every change of alert intake: integrations and their tokens, rules, and receiving a webhook notification.

Receiving turns alerts into incidents only through `incidents.services` (open, set components, change level, post
an update, resolve), so every incident rule, audit event and page is the incidents app's own. Per notification:
the integration's row is locked (two notifications of one sender never race on a group), each alert is matched to
the first rule, suppressed while maintenance is in progress on all of its components, and otherwise joins its
group's incident (one incident per outage) or opens one. When every alert of a group has resolved the incident moves
to monitoring; the sweeper resolves it after the integration's quiet period without a new firing alert.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from alerting import payloads, policy, selectors
from alerting.choices import AlertStatus, GroupStatus, Outcome, Source
from alerting.models import AlertGroup, AlertIntegration, AlertRule, ReceivedAlert
from ersen_ops.audit.services import record
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError, PermissionRefused
from incidents import policy as incident_policy
from incidents import services as incidents
from incidents.choices import IMPACT_SEVERITY, IncidentStatus
from incidents.models import Incident

PERM_ADD = "alerting.add_alertintegration"
PERM_TOKEN = "alerting.manage_token_alertintegration"
PERM_RULE = "alerting.change_alertrule"
SWEEPER_ACTOR = "system:alerting-quiet-sweeper"


# --- integrations and tokens ----------------------------------------------------------------------------------


def _snapshot(integration: AlertIntegration) -> dict:
    return {
        "name": integration.name,
        "source": integration.source,
        "token_prefix": integration.token_prefix,
        "active": integration.active,
        "default_level": integration.default_level,
        "quiet_minutes": integration.quiet_minutes,
    }


@transaction.atomic
def integration_create(
    *, actor, name: str, source: str, default_level: str = "P2", quiet_minutes: int = 10
) -> tuple[AlertIntegration, str]:
    """A new integration and its token. The token is returned once (shown to the operator) and stored hashed."""
    kit.require(actor, PERM_ADD, what="adding alert integrations")
    if source not in Source.values:
        raise DomainError(f"Unknown source {source!r}; choose one of {', '.join(Source.values)}.")
    token = policy.new_token()
    integration = AlertIntegration(
        name=(name or "").strip(),
        source=source,
        default_level=default_level,
        quiet_minutes=quiet_minutes,
        token_prefix=policy.token_prefix(token),
        token_hash=policy.token_hash(token),
        created_by=actor if kit.actor_kind(actor) == "user" else None,
    )
    kit.clean_and_save(integration)
    record(
        actor=actor, action="alerting.integration_created", target=integration, data={"after": _snapshot(integration)}
    )
    return integration, token


@transaction.atomic
def integration_edit(*, actor, integration: AlertIntegration, **changes) -> AlertIntegration:
    kit.require(actor, "alerting.change_alertintegration", what="editing alert integrations")
    locked = kit.lock(integration)
    before = _snapshot(locked)
    for field in ("name", "default_level", "quiet_minutes"):
        if field in changes:
            setattr(locked, field, changes[field])
    kit.clean_and_save(locked)
    record(
        actor=actor,
        action="alerting.integration_changed",
        target=locked,
        data={"before": before, "after": _snapshot(locked)},
    )
    kit.copy_saved_state(integration, locked)
    return integration


@transaction.atomic
def integration_rotate_token(*, actor, integration: AlertIntegration, now: datetime | None = None) -> str:
    """A new token; the old one stops working at once. Returned once."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TOKEN, what="rotating alert integration tokens")
    locked = kit.lock(integration)
    before = _snapshot(locked)
    token = policy.new_token()
    locked.token_prefix, locked.token_hash, locked.token_rotated_at = (
        policy.token_prefix(token),
        policy.token_hash(token),
        now,
    )
    kit.clean_and_save(locked)
    record(
        actor=actor,
        action="alerting.integration_token_rotated",
        target=locked,
        data={"before": before, "after": _snapshot(locked)},
    )
    kit.copy_saved_state(integration, locked)
    return token


@transaction.atomic
def integration_set_active(*, actor, integration: AlertIntegration, active: bool) -> AlertIntegration:
    """Revoke (inactive: its token is refused) or re-enable an integration."""
    kit.require(actor, PERM_TOKEN, what="revoking or re-enabling alert integrations")
    locked = kit.lock(integration)
    if locked.active == active:
        raise DomainError(f"“{locked}” is already {'active' if active else 'revoked'}.")
    before = _snapshot(locked)
    locked.active = active
    kit.clean_and_save(locked)
    record(
        actor=actor,
        action="alerting.integration_enabled" if active else "alerting.integration_revoked",
        target=locked,
        data={"before": before, "after": _snapshot(locked)},
    )
    kit.copy_saved_state(integration, locked)
    return integration


# --- rules ------------------------------------------------------------------------------------------------


def rule_snapshot(rule: AlertRule) -> dict:
    return {
        "name": rule.name,
        "integration": rule.integration.name if rule.integration_id else None,
        "position": rule.position,
        "matchers": rule.matchers,
        "components": sorted(c.name for c in rule.components.all()) if rule.pk else [],
        "impact": rule.impact,
        "level": rule.level,
        "enabled": rule.enabled,
    }


def _check_matchers(matchers) -> None:
    if not isinstance(matchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in matchers.items()
    ):
        raise DomainError('Matchers are an object of label names and exact values, e.g. {"service": "api"}.')


@transaction.atomic
def rule_record_change(*, actor, rule: AlertRule, before: dict | None) -> None:
    """Audit a rule saved by the admin (its form saves the row and its components; this records before/after)."""
    kit.require(actor, PERM_RULE, what="changing alert rules")
    _check_matchers(rule.matchers)
    record(
        actor=actor,
        action="alerting.rule_created" if before is None else "alerting.rule_changed",
        target=rule,
        data={"before": before, "after": rule_snapshot(rule)},
    )


@transaction.atomic
def rule_save(*, actor, rule: AlertRule, components=None) -> AlertRule:
    """Create or change a rule (matchers, components, impact, level) — for code and tests; audited."""
    kit.require(actor, PERM_RULE, what="changing alert rules")
    _check_matchers(rule.matchers)
    before = rule_snapshot(AlertRule.objects.get(pk=rule.pk)) if rule.pk else None
    kit.clean_and_save(rule)
    if components is not None:
        rule.components.set(components)
    rule_record_change(actor=actor, rule=rule, before=before)
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: AlertRule) -> None:
    kit.require(actor, "alerting.delete_alertrule", what="deleting alert rules")
    before = rule_snapshot(rule)
    record(actor=actor, action="alerting.rule_deleted", target=rule, data={"before": before})
    rule.delete()


# --- receiving ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveResult:
    notification_id: str
    received: int
    outcomes: dict  # outcome -> count
    incidents: tuple[str, ...]  # public ids of the incidents this notification touched

    def as_dict(self) -> dict:
        return {
            "notification": self.notification_id,
            "received": self.received,
            "outcomes": self.outcomes,
            "incidents": list(self.incidents),
        }


class _Receiving:
    """One notification's work inside its transaction (the integration row locked)."""

    def __init__(self, integration: AlertIntegration, notification: payloads.Notification, now: datetime):
        self.integration = integration
        self.notification = notification
        self.now = now
        self.actor = integration.actor_name
        self.rules = selectors.rule_facts()
        self.groups = selectors.open_groups(integration)
        matched = [policy.match_rule(self.rules, a.labels, integration.pk) for a in notification.alerts]
        self.matched = matched
        component_ids = set().union(*(r.component_ids for r in matched if r is not None)) if matched else set()
        self.windows = selectors.windows_in_progress(component_ids)
        self.rows: list[ReceivedAlert] = []
        self.incidents: dict[int, str] = {}
        # Changed groups are saved once at the end; each incident's impacts are read once per notification.
        self.dirty: dict[int, AlertGroup] = {}
        self.impacts: dict[int, dict] = {}
        self.notification_id = secrets.token_hex(8)

    # groups ---------------------------------------------------------------------------------------------------

    def _open_group(self, fingerprint: str) -> AlertGroup | None:
        """The sender's group by key, else an open group where this alert is firing (same integration)."""
        key = self.notification.group_key
        group = next((g for g in self.groups if g.group_key == key), None)
        if group is None:
            group = next((g for g in self.groups if fingerprint in g.firing), None)
        if group is not None and group.incident_id and group.incident.is_resolved:
            self._close(group, why="its incident was resolved")  # a person resolved it: a new outage starts afresh
            return None
        return group

    def _close(self, group: AlertGroup, *, why: str) -> None:
        group.status, group.closed_at = GroupStatus.CLOSED, self.now
        group.save(update_fields=["status", "closed_at"])
        self.groups.remove(group)
        record(
            actor=self.actor,
            action="alerting.group_closed",
            target=group,
            data={
                "group_key": group.group_key,
                "why": why,
                "incident": group.incident.public_id if group.incident_id else None,
            },
        )

    # alerts ---------------------------------------------------------------------------------------------------

    def _row(self, alert: payloads.AlertFacts, outcome: str, detail: str, *, rule=None, group=None, window=None):
        self.rows.append(
            ReceivedAlert(
                integration=self.integration,
                received_at=self.now,
                notification_id=self.notification_id,
                group=group,
                group_key=self.notification.group_key,
                fingerprint=alert.fingerprint,
                status=alert.status,
                alertname=alert.alertname[:300],
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.starts_at,
                ends_at=alert.ends_at,
                generator_url=alert.generator_url,
                outcome=outcome,
                detail=detail,
                rule_id=rule.id if rule else None,
                incident=group.incident if group is not None else None,
                window_id=window.id if window else None,
            )
        )
        if group is not None and group.incident_id:
            self.incidents[group.incident_id] = group.incident.public_id

    def firing(self, alert: payloads.AlertFacts, rule: policy.RuleFacts | None) -> None:
        impacts = {cid: rule.impact for cid in rule.component_ids} if rule else {}
        level = rule.level if rule else self.integration.default_level
        how = f"rule “{rule.name}”" if rule else f"no rule matched: the integration's default level {level}"
        window = policy.suppressing_window(impacts, self.windows)
        if window is not None:
            self._row(
                alert,
                Outcome.SUPPRESSED,
                f"Maintenance “{window.title}” ({window.public_id}) is in progress on its components: recorded, "
                "no incident, no page.",
                rule=rule,
                window=window,
            )
            return
        group = self._open_group(alert.fingerprint)
        if group is None:
            incident = incidents.incident_open(
                actor=self.actor,
                title=policy.incident_title(alert, self.integration.name),
                level=level,
                components=impacts,
                internal_notes=policy.alert_note(alert),
                now=self.now,
            )
            group = AlertGroup.objects.create(
                integration=self.integration,
                group_key=self.notification.group_key,
                incident=incident,
                firing=[alert.fingerprint],
                opened_at=self.now,
            )
            self.groups.append(group)
            self._row(alert, Outcome.OPENED, f"Opened {incident.public_id} at {level} ({how}).", rule=rule, group=group)
            return
        if alert.fingerprint in group.firing:
            self._row(alert, Outcome.REPEATED, "Already firing in this group; nothing changed.", rule=rule, group=group)
            return
        group.firing = [*group.firing, alert.fingerprint]
        was_quiet = group.status == GroupStatus.QUIET
        group.status, group.quiet_since = GroupStatus.FIRING, None
        self.dirty[group.pk] = group
        incident = group.incident
        self._join(incident, alert, impacts, level, how, was_quiet)
        self._row(
            alert,
            Outcome.JOINED,
            f"Joined {incident.public_id} ({len(group.firing)} alert(s) firing; {how}).",
            rule=rule,
            group=group,
        )

    def _join(self, incident: Incident, alert, impacts: dict, level: str, how: str, was_quiet: bool) -> None:
        if incident.pk not in self.impacts:
            self.impacts[incident.pk] = {ic.component_id: ic.impact for ic in incident.component_impacts.all()}
        current = self.impacts[incident.pk]
        merged = dict(current)
        for cid, impact in impacts.items():
            if IMPACT_SEVERITY[impact] > IMPACT_SEVERITY.get(merged.get(cid), 0):
                merged[cid] = impact
        if merged != current:
            incidents.incident_set_components(actor=self.actor, incident=incident, components=merged)
            self.impacts[incident.pk] = merged
            incident.refresh_from_db()
        if incident_policy.is_raise(incident.level, level):
            incidents.incident_change_level(
                actor=self.actor,
                incident=incident,
                level=level,
                reason=f"Alert {alert.alertname or alert.fingerprint} joined at {level} ({how}).",
                now=self.now,
            )
            incident.refresh_from_db()
        if was_quiet or incident.status == IncidentStatus.MONITORING:
            incidents.incident_post_update(
                actor=self.actor,
                incident=incident,
                status=IncidentStatus.INVESTIGATING,
                body=f"Alert {alert.alertname or alert.fingerprint} is firing again.",
                public=False,
                now=self.now,
            )
            incident.refresh_from_db()

    def resolved(self, alert: payloads.AlertFacts, rule: policy.RuleFacts | None) -> None:
        key = self.notification.group_key
        group = next((g for g in self.groups if alert.fingerprint in g.firing and g.group_key == key), None)
        group = group or next((g for g in self.groups if alert.fingerprint in g.firing), None)
        if group is None:
            self._row(
                alert,
                Outcome.UNKNOWN_RESOLVED,
                "Not firing in any open group (suppressed, or its incident was closed): recorded only.",
                rule=rule,
            )
            return
        group.firing = [f for f in group.firing if f != alert.fingerprint]
        left = len(group.firing)
        incident = group.incident
        if left == 0:
            group.status, group.quiet_since = GroupStatus.QUIET, self.now
        self.dirty[group.pk] = group
        detail = f"Resolved; {left} alert(s) of the group still firing."
        if left == 0 and incident is not None and not incident.is_resolved:
            quiet = self.integration.quiet_minutes
            if incident.status != IncidentStatus.MONITORING:
                incidents.incident_post_update(
                    actor=self.actor,
                    incident=incident,
                    status=IncidentStatus.MONITORING,
                    body=f"Every alert of this incident has resolved. It is resolved automatically after {quiet} "
                    "min without a new firing alert.",
                    public=False,
                    now=self.now,
                )
                incident.refresh_from_db()
            detail = f"Resolved the group's last alert: {incident.public_id} is monitoring for {quiet} min."
        self._row(alert, Outcome.RESOLVED, detail, rule=rule, group=group)


def _authorised(integration: AlertIntegration, source: str) -> None:
    if not integration.active:
        raise PermissionRefused(f"The alert integration “{integration}” is revoked; its token is no longer accepted.")
    if integration.source != source:
        raise PermissionRefused(
            f"The alert integration “{integration}” receives {Source(integration.source).label}; "
            f"post to its own endpoint (/api/ops/v1/alerts/{integration.source})."
        )


def _process(work: _Receiving, *, lead: str = "") -> None:
    for alert, rule in zip(work.notification.alerts, work.matched, strict=True):
        if alert.status == AlertStatus.FIRING:
            work.firing(alert, rule)
        else:
            work.resolved(alert, rule)
    for group in work.dirty.values():
        group.save(update_fields=["firing", "status", "quiet_since"])
    for row in work.rows:
        row.detail = f"{lead}{row.detail}"
    # Fields come parsed and cut to size from payloads.parse; one INSERT for the notification's alerts.
    ReceivedAlert.objects.bulk_create(work.rows)


def alerts_receive(
    *, integration: AlertIntegration, source: str, payload, now: datetime | None = None, remote_addr: str | None = None
) -> ReceiveResult:
    """Receive one webhook notification: every alert recorded, grouped, suppressed or turned into an incident."""
    now = kit.now_or(now)
    notification = payloads.parse(source, payload)  # a bad body changes nothing
    with transaction.atomic():
        locked = AlertIntegration.objects.select_for_update().get(pk=integration.pk)
        _authorised(locked, source)
        work = _Receiving(locked, notification, now)
        _process(work)
        locked.last_used_at, locked.last_used_from = now, remote_addr or None
        locked.save(update_fields=["last_used_at", "last_used_from"])
        outcomes = dict(Counter(r.outcome for r in work.rows))
        result = ReceiveResult(
            notification_id=work.notification_id,
            received=len(work.rows),
            outcomes=outcomes,
            incidents=tuple(dict.fromkeys(work.incidents.values())),
        )
        record(
            actor=locked.actor_name,
            action="alerting.notification_received",
            target=locked,
            data={
                **result.as_dict(),
                "group_key": notification.group_key,
                "status": notification.status,
                "receiver": notification.receiver,
                "truncated_alerts": notification.truncated,
                "suppressed_by": sorted({r.window_id for r in work.rows if r.window_id}),
            },
        )
    return result


# --- after maintenance --------------------------------------------------------------------------------------

RELEASE_ACTOR = "system:alerting-maintenance-ended"


def _as_facts(row: ReceivedAlert) -> payloads.AlertFacts:
    return payloads.AlertFacts(
        fingerprint=row.fingerprint,
        status=AlertStatus.FIRING,
        labels=row.labels,
        annotations=row.annotations,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        generator_url=row.generator_url,
    )


def alerts_release_suppressed(*, now: datetime | None = None) -> int:
    """Alerts suppressed by a window that is no longer in progress, and not heard of since (no later notification
    resolved or repeated them), are taken as still firing: they open or join their incident now — the sender may
    not repeat them for hours. Each group in its own transaction; running it twice changes nothing (the new rows are
    the later word on those alerts). Returns how many alerts were released."""
    now = kit.now_or(now)
    batches: dict[tuple[int, str], list[ReceivedAlert]] = {}
    for row in selectors.suppressed_alerts_to_release(now):
        batches.setdefault((row.integration_id, row.group_key), []).append(row)
    released = 0
    for (integration_id, group_key), rows in batches.items():
        with transaction.atomic():
            locked = AlertIntegration.objects.select_for_update().get(pk=integration_id)
            rows = selectors.suppressed_alerts_to_release(now, ids=[r.pk for r in rows])  # again, under the lock
            if not rows or not locked.active:
                continue
            windows = sorted({f"{r.window.title} ({r.window.public_id})" for r in rows})
            notification = payloads.Notification(
                source=locked.source,
                group_key=group_key,
                status=AlertStatus.FIRING,
                alerts=tuple(_as_facts(r) for r in rows),
            )
            work = _Receiving(locked, notification, now)
            work.actor = locked.actor_name
            _process(work, lead=f"Still firing after the maintenance that suppressed it ended ({', '.join(windows)}). ")
            released += len(rows)
            record(
                actor=RELEASE_ACTOR,
                action="alerting.suppression_ended",
                target=locked,
                data={
                    "group_key": group_key,
                    "windows": windows,
                    "alerts": [r.fingerprint for r in rows],
                    "outcomes": dict(Counter(r.outcome for r in work.rows)),
                    "incidents": list(dict.fromkeys(work.incidents.values())),
                },
            )
    return released


# --- the quiet period ----------------------------------------------------------------------------------------


def alert_group_resolve_quiet(*, group_id: int, now: datetime | None = None) -> bool:
    """Resolve a quiet group's incident once its quiet period is over; False when it is not (any more) due."""
    now = kit.now_or(now)
    with transaction.atomic():
        group = (
            AlertGroup.objects.select_for_update(of=("self",))
            .select_related("integration", "incident")
            .get(pk=group_id)
        )
        integration = group.integration
        due = policy.quiet_over(quiet_since=group.quiet_since, quiet_minutes=integration.quiet_minutes, now=now)
        if group.status != GroupStatus.QUIET or group.firing or not due:
            return False
        incident = group.incident
        resolved_here = incident is not None and not incident.is_resolved
        if resolved_here:
            incidents.incident_resolve(
                actor=integration.actor_name,
                incident=incident,
                body="This incident has been resolved: the alerts have cleared and stayed clear.",
                now=now,
            )
        group.status, group.closed_at = GroupStatus.CLOSED, now
        group.save(update_fields=["status", "closed_at"])
        record(
            actor=SWEEPER_ACTOR,
            action="alerting.group_closed",
            target=group,
            data={
                "group_key": group.group_key,
                "why": f"quiet for {integration.quiet_minutes} min after every alert resolved",
                "incident": incident.public_id if incident else None,
                "incident_resolved": resolved_here,
            },
        )
    return True


def alert_groups_resolve_quiet(*, now: datetime | None = None) -> int:
    """The sweeper: every quiet group whose period is over, each in its own transaction. Safe to run twice."""
    now = kit.now_or(now)
    return sum(alert_group_resolve_quiet(group_id=pk, now=now) for pk in selectors.quiet_groups_due(now))
