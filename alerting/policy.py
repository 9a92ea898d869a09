"""Pure rules of alert intake: which rule an alert matches, whether maintenance suppresses it, what its incident is
called, and when a quiet group may be resolved. No database; `now` is passed in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerting.payloads import AlertFacts
from ersen_ops.core.validators import one_line

TOKEN_START = "eoa_"  # Ersen Ops alerts: tells an integration token from a personal API token at a glance
TOKEN_PREFIX_LENGTH = 12  # "eoa_" + 8 characters, shown in the admin and in audit events
TITLE_MAX = 200


def new_token() -> str:
    return TOKEN_START + secrets.token_urlsafe(32)


def token_prefix(token: str) -> str:
    return token[:TOKEN_PREFIX_LENGTH]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


@dataclass(frozen=True)
class RuleFacts:
    id: int
    name: str
    matchers: dict
    component_ids: frozenset
    impact: str
    level: str
    integration_id: int | None = None


def rule_matches(rule: RuleFacts, labels: dict) -> bool:
    return all(str(labels.get(k)) == str(v) for k, v in rule.matchers.items()) if rule.matchers else True


def match_rule(rules: Sequence[RuleFacts], labels: dict, integration_id: int) -> RuleFacts | None:
    """The first rule (in the given order: by position) for this integration or every one whose matchers the labels
    carry."""
    for rule in rules:
        if rule.integration_id not in (None, integration_id):
            continue
        if rule_matches(rule, labels):
            return rule
    return None


@dataclass(frozen=True)
class WindowOnComponents:
    id: int
    public_id: str
    title: str
    component_ids: frozenset


def suppressing_window(
    component_ids: Iterable[int], windows: Sequence[WindowOnComponents]
) -> WindowOnComponents | None:
    """The in-progress window under which an alert is expected noise: every one of the alert's components is in
    in-progress maintenance (an alert on no component, or on one outside maintenance, is never suppressed)."""
    wanted = set(component_ids)
    if not wanted:
        return None
    covered = set().union(*(w.component_ids for w in windows)) if windows else set()
    if not wanted <= covered:
        return None
    return next(w for w in windows if w.component_ids & wanted)


def incident_title(alert: AlertFacts, integration_name: str) -> str:
    """'HighErrorRate: 5% of API requests fail' from the alert's name and summary annotation."""
    name = alert.alertname or f"Alert from {integration_name}"
    summary = alert.annotations.get("summary") or alert.annotations.get("title") or ""
    title = f"{name}: {summary}" if summary and summary != name else name
    title = " ".join(one_line(title).split())  # a title is one line: no control characters from the sender
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def alert_note(alert: AlertFacts) -> str:
    """The alert as an internal note: labels, description, where it came from (never published)."""
    lines = [f"Alert {alert.alertname or alert.fingerprint} ({alert.fingerprint})"]
    lines += [f"{k}={v}" for k, v in sorted(alert.labels.items())]
    for key in ("description", "summary", "runbook_url"):
        if alert.annotations.get(key):
            lines.append(f"{key}: {alert.annotations[key]}")
    if alert.generator_url:
        lines.append(f"source: {alert.generator_url}")
    return "\n".join(lines)


def quiet_over(*, quiet_since: datetime | None, quiet_minutes: int, now: datetime) -> bool:
    return quiet_since is not None and now >= quiet_since + timedelta(minutes=quiet_minutes)
