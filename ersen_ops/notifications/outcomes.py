"""What became of a notification, in words: the one place every message and panel that reports on one reads from.

`describe_deliveries(deliveries)` → "Pager: not sent — not configured (set PAGER_WEBHOOK_URL and
PAGER_ROUTING_KEY); Slack (alerts): sent." It is derived from each delivery's real status (queued, sending,
sent, failed, skipped) and, for a delivery still queued, from whether its channel is configured right now (a
queued delivery to an unconfigured channel will be skipped by the worker: saying "queued" would promise a
message nobody gets). `describe_channels(channels)` says the same of channels before anything is queued
(confirmation pages: "announced to: Status page, Email (not configured: …)").

Reads settings (through the channel classes) and the deliveries given; never queries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db import models

from ersen_ops.notifications.channels import get_channel
from ersen_ops.notifications.choices import DELIVERY_CHANNEL_CHOICES, DeliveryStatus
from ersen_ops.notifications.services import collect_deliveries

NOT_CONFIGURED_PREFIX = "not configured"


class Outcome(models.TextChoices):
    """Per-delivery outcome as an operator needs it (finer than the status: why it was skipped, will it be)."""

    SENT = "sent", "sent"
    QUEUED = "queued", "queued"
    SENDING = "sending", "sending"
    RETRYING = "retrying", "retrying"
    NOT_CONFIGURED = "not_configured", "not sent — not configured"
    SKIPPED = "skipped", "skipped"
    FAILED = "failed", "FAILED"


# Outcomes that mean nobody got (or will get) the message.
PROBLEMS = frozenset({Outcome.NOT_CONFIGURED, Outcome.SKIPPED, Outcome.FAILED})


def channel_label(channel: str) -> str:
    return dict(DELIVERY_CHANNEL_CHOICES).get(channel, channel)


def channel_not_configured(channel: str, delivery=None) -> str:
    """'not configured: set X' when `channel` would skip `delivery` (or any message) now; '' when it can send."""
    from ersen_ops.notifications.models import NotificationDelivery

    try:
        impl = get_channel(channel)
    except KeyError:
        return ""
    return impl.not_configured_reason(delivery if delivery is not None else NotificationDelivery(channel=channel))


def _short(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery: object
    outcome: str
    words: str  # "not sent — not configured (set PAGER_WEBHOOK_URL)", "sent", "FAILED (HTTP 400 …)"

    @property
    def problem(self) -> bool:
        return self.outcome in PROBLEMS


def delivery_outcome(delivery) -> DeliveryOutcome:
    """One delivery's outcome in words, from its real status (and, while queued, its channel's configuration)."""
    status = delivery.status
    if status == DeliveryStatus.SENT:
        return DeliveryOutcome(delivery, Outcome.SENT, "sent")
    if status == DeliveryStatus.FAILED:
        return DeliveryOutcome(
            delivery, Outcome.FAILED, f"FAILED ({_short(delivery.last_error) or 'no reason recorded'})"
        )
    if status == DeliveryStatus.SKIPPED:
        reason = delivery.last_error or ""
        if reason.startswith(NOT_CONFIGURED_PREFIX):
            return DeliveryOutcome(delivery, Outcome.NOT_CONFIGURED, _not_configured_words(reason))
        return DeliveryOutcome(delivery, Outcome.SKIPPED, f"skipped ({_short(reason) or 'no reason recorded'})")
    # queued or sending: will it be sent at all?
    reason = channel_not_configured(delivery.channel, delivery)
    if reason:
        return DeliveryOutcome(delivery, Outcome.NOT_CONFIGURED, _not_configured_words(reason))
    if status == DeliveryStatus.QUEUED and delivery.attempts and delivery.last_error:
        return DeliveryOutcome(
            delivery, Outcome.RETRYING, f"retrying (attempt {delivery.attempts}: {_short(delivery.last_error, 80)})"
        )
    if status == DeliveryStatus.SENDING:
        return DeliveryOutcome(delivery, Outcome.SENDING, "sending")
    return DeliveryOutcome(delivery, Outcome.QUEUED, "queued")


def _not_configured_words(reason: str) -> str:
    # "not configured: set X" → "not sent — not configured (set X)"
    detail = reason.removeprefix(NOT_CONFIGURED_PREFIX).lstrip(": ").strip()
    return f"{Outcome.NOT_CONFIGURED.label} ({detail})" if detail else Outcome.NOT_CONFIGURED.label


@dataclass(frozen=True)
class ChannelOutcome:
    """Every delivery to one channel (in a set of deliveries), summed up."""

    channel: str
    label: str
    outcomes: tuple[DeliveryOutcome, ...]

    @property
    def words(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.words] = counts.get(o.words, 0) + 1
        if len(self.outcomes) == 1:
            return self.outcomes[0].words
        return ", ".join(f"{n} {words}" for words, n in counts.items())

    @property
    def problem(self) -> bool:
        return any(o.problem for o in self.outcomes)

    @property
    def delivered(self) -> bool:
        return any(o.outcome == Outcome.SENT for o in self.outcomes)

    def __str__(self) -> str:
        return f"{self.label}: {self.words}"


def channel_outcomes(deliveries: Iterable) -> list[ChannelOutcome]:
    """Per channel (in the order they first appear), what became of the deliveries."""
    grouped: dict[str, list[DeliveryOutcome]] = {}
    for d in deliveries:
        grouped.setdefault(d.channel, []).append(delivery_outcome(d))
    return [ChannelOutcome(channel, channel_label(channel), tuple(items)) for channel, items in grouped.items()]


def describe_deliveries(deliveries: Iterable, *, nothing: str = "No notification was sent.") -> str:
    """'Pager: not sent — not configured (set …); Slack (alerts): queued.' — or `nothing` when there are none."""
    outcomes = channel_outcomes(deliveries)
    if not outcomes:
        return nothing
    return "; ".join(str(o) for o in outcomes) + "."


def deliveries_have_problem(deliveries: Iterable) -> bool:
    """Did (or will) any of these deliveries fail to reach its channel?"""
    return any(o.problem for o in channel_outcomes(deliveries))


def describe_channels(channels: Iterable[str]) -> str:
    """Channels about to be used, each with what will happen if it is not configured."""
    parts = []
    for channel in dict.fromkeys(channels):
        reason = channel_not_configured(channel)
        label = channel_label(channel)
        parts.append(f"{label} ({reason} — it will be skipped)" if reason else label)
    return ", ".join(parts) or "no channel"


def refreshed(deliveries: Iterable) -> list:
    """The same deliveries re-read in one query (their status now; rolled-back ones drop out), in order."""
    from ersen_ops.notifications.models import NotificationDelivery

    ids = [d.pk for d in deliveries if d.pk]
    rows = NotificationDelivery.objects.in_bulk(ids)
    return [rows[pk] for pk in dict.fromkeys(ids) if pk in rows]


@contextlib.contextmanager
def action_report() -> Iterator[Callable[[], tuple[str, bool]]]:
    """Around an admin action: yields a callable giving (what the action's notifications came to, any problem).

    Registered with the admin workflow (`register_action_reporter`), so every button's success message
    ends with e.g. "Notifications: Pager: not sent — not configured (set …)." and turns into a warning then.
    """
    with collect_deliveries() as collected:
        yield lambda: report(collected)


def report(deliveries: Iterable) -> tuple[str, bool]:
    rows = refreshed(deliveries)
    if not rows:
        return "", False
    return f"Notifications: {describe_deliveries(rows)}", deliveries_have_problem(rows)


def pager_alert_open(deliveries: Iterable) -> bool:
    """Is a pager alert open, as far as the pager was really told? (Its last *sent* event was a trigger.)"""
    last = ""
    for d in sorted(deliveries, key=lambda d: d.pk or 0):
        if d.channel == "pager" and d.status == DeliveryStatus.SENT:
            last = d.pager_action or "trigger"
    return last == "trigger"
