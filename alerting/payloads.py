"""The two webhook formats as plain facts (pure: no database).

Prometheus Alertmanager's webhook (version "4"): {version, groupKey, status, receiver, groupLabels, commonLabels,
commonAnnotations, externalURL, truncatedAlerts, alerts: [{status, labels, annotations, startsAt, endsAt,
generatorURL, fingerprint}]}. Grafana alerting's webhook contact point sends the same shape (its own "version": "1")
plus orgId, title, state, message and, per alert, silenceURL, dashboardURL, panelURL, values / valueString.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerting.choices import AlertStatus, Source
from ersen_ops.core.errors import DomainError

ALERTMANAGER_VERSION = "4"
MAX_ALERTS = 1000  # one notification; Alertmanager truncates at max_alerts itself when told to
_ZERO_YEAR = 1  # Go's zero time "0001-01-01T00:00:00Z": no end yet


class PayloadError(DomainError):
    def __init__(self, message: str):
        super().__init__(message, code="payload")


@dataclass(frozen=True)
class AlertFacts:
    fingerprint: str
    status: str
    labels: dict
    annotations: dict = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""

    @property
    def alertname(self) -> str:
        return str(self.labels.get("alertname", ""))


@dataclass(frozen=True)
class Notification:
    source: str
    group_key: str
    status: str
    alerts: tuple[AlertFacts, ...]
    receiver: str = ""
    truncated: int = 0
    external_url: str = ""


def _text(value: Any, limit: int | None = None) -> str:
    """A string as PostgreSQL can store it (no NUL character, which neither text nor jsonb accepts), cut to size."""
    text = ("" if value is None else str(value)).replace("\x00", "")
    return text[:limit] if limit else text


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object of strings.")
    return {_text(k, 200): _text(v, 10_000) for k, v in value.items()}


def _time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 time, not {type(value).__name__}.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{where} is not an RFC 3339 time: {value[:40]!r}.") from None
    if moment.year == _ZERO_YEAR:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fallback_fingerprint(labels: dict) -> str:
    """Alertmanager always sends one; an older Grafana may not: the sorted labels identify the alert."""
    import hashlib

    return hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]


def parse(source: str, payload: Any) -> Notification:
    """A webhook body (already decoded JSON) as a Notification; PayloadError names what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError("The body must be a JSON object (the webhook's notification).")
    if source == Source.ALERTMANAGER:
        version = str(payload.get("version", ""))
        if version != ALERTMANAGER_VERSION:
            raise PayloadError(
                f"Alertmanager webhook version {version or '(missing)'} is not supported; "
                f"this endpoint reads version {ALERTMANAGER_VERSION}."
            )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("“alerts” must be a list.")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"{len(alerts)} alerts in one notification; at most {MAX_ALERTS}.")
    group_key = payload.get("groupKey")
    if not isinstance(group_key, str) or not group_key.strip():
        raise PayloadError("“groupKey” is missing: the sender's group key decides which incident alerts join.")
    parsed = []
    for n, alert in enumerate(alerts):
        where = f"alerts[{n}]"
        if not isinstance(alert, dict):
            raise PayloadError(f"{where} must be an object.")
        status = alert.get("status")
        if status not in AlertStatus.values:
            raise PayloadError(f"{where}.status must be “firing” or “resolved”, not {str(status)[:20]!r}.")
        labels = _mapping(alert.get("labels"), f"{where}.labels")
        fingerprint = _text(alert.get("fingerprint")).strip() or _fallback_fingerprint(labels)
        parsed.append(
            AlertFacts(
                fingerprint=fingerprint[:200],
                status=status,
                labels=labels,
                annotations=_mapping(alert.get("annotations"), f"{where}.annotations"),
                starts_at=_time(alert.get("startsAt"), f"{where}.startsAt"),
                ends_at=_time(alert.get("endsAt"), f"{where}.endsAt"),
                generator_url=_text(alert.get("generatorURL"), 1000),
            )
        )
    status = payload.get("status")
    return Notification(
        source=source,
        group_key=_text(group_key, 1000),
        status=status if status in AlertStatus.values else AlertStatus.FIRING,
        alerts=tuple(parsed),
        receiver=_text(payload.get("receiver"), 300),
        truncated=int(payload.get("truncatedAlerts") or 0)
        if str(payload.get("truncatedAlerts") or "0").isdigit()
        else 0,
        external_url=_text(payload.get("externalURL"), 1000),
    )
