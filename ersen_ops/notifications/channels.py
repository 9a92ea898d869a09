"""The outside world: one class per notification channel.

A channel reads its configuration from Django settings at send time (so a
variable set after a delivery was queued is picked up by the next attempt),
names its target without the secret, and sends one delivery. It reports the
outcome by returning `Sent` or raising `NotConfigured`, `TemporaryFailure`
(network error, 5xx, 429: retried later) or `PermanentFailure` (any other 4xx:
failed at once). Every text it produces for an error is masked.

Nothing here touches the delivery's status: `sending.py` owns the lifecycle.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import logging
import re
import secrets
import smtplib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address

from ersen_ops.core.validators import one_line
from ersen_ops.notifications import policy
from ersen_ops.notifications.choices import Channel, PagerAction
from ersen_ops.notifications.mailtemplate import MessageTemplate, TemplateRefused
from ersen_ops.notifications.masking import LOGGER_NAME, mask
from ersen_ops.notifications.outbound import WebhookRefused, webhook_post

logger = logging.getLogger(LOGGER_NAME)

USER_AGENT = "ErsenOps-Notifications/1.0"
# "\n(12/12)": the part marker appended to each piece of a split message.
PART_MARKER_RESERVE = 10
# 429s answered by waiting inside the same attempt, at most this many times.
MAX_INLINE_WAITS = 3
# An attempt stops starting new parts after this long and leaves the rest to the next one,
# so it always ends well before the sweeper treats its claim as stale.
ATTEMPT_BUDGET_SECONDS = 300

# Indirection so a test can count waits; production uses time.sleep.
sleep: Callable[[float], None] = time.sleep


class NotConfigured(Exception):
    """The channel's environment variable is unset: the delivery is skipped with this reason."""


class DeliveryError(Exception):
    def __init__(self, error: str, *, response: str = "", retry_after: float | None = None):
        super().__init__(error)
        self.error = mask(error)
        self.response = mask(response)
        self.retry_after = retry_after
        self.connection_lost = False  # SMTP: the connection is gone (a batch opens a new one for the next message)


class TemporaryFailure(DeliveryError):
    """Worth retrying: network error, timeout, 5xx, 429, SMTP 4xx."""


class PermanentFailure(DeliveryError):
    """Retrying cannot help (4xx other than 429, SMTP 5xx): the delivery fails at once."""


@dataclass
class Sent:
    response: str
    detail: str = ""


class Progress:
    """Callbacks a channel uses to record how far a multi-part send got (see sending.py)."""

    def total(self, parts: int) -> None:  # pragma: no cover - interface
        pass

    def part_sent(self, number: int) -> None:  # pragma: no cover - interface
        pass

    def settle(self) -> None:
        """Return once what `part_sent` recorded is durable. A batch calls it on the previous message's progress
        before the receiver can accept the next message, so a record may be written while that one is on its way."""


# --- splitting long messages ---------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# (how to split, how to join back): paragraphs, lines, sentences, words.
_SEPARATORS: tuple[tuple[object, str], ...] = (("\n\n", "\n\n"), ("\n", "\n"), (_SENTENCE_END, " "), (" ", " "))


def _atoms(text: str, limit: int, separators) -> list[tuple[str, str]]:
    """`text` as (piece, joiner-before-it) pairs, each piece at most `limit` long, split as coarsely as possible."""
    if len(text) <= limit:
        return [(text, "")]
    if not separators:
        # A single "word" longer than the limit (a huge URL or hash): the only hard cut, marked by the part numbers.
        return [(text[i : i + limit], "") for i in range(0, len(text), limit)]
    (splitter, joiner), rest = separators[0], separators[1:]
    pieces = splitter.split(text) if isinstance(splitter, re.Pattern) else text.split(splitter)
    atoms: list[tuple[str, str]] = []
    for index, piece in enumerate(pieces):
        sub = _atoms(piece, limit, rest)
        atoms.append((sub[0][0], joiner if index else ""))
        atoms.extend(sub[1:])
    return atoms


def _split(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece, joiner in _atoms(text, limit, _SEPARATORS):
        candidate = f"{current}{joiner}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into parts of at most `limit` characters, on paragraph, line, then sentence boundaries.

    Each part of a split message ends with "(i/n)" so a reader sees it continues.
    """
    text = text.strip()
    if len(text) <= limit:
        return [text]
    chunks = [c.strip() for c in _split(text, limit - PART_MARKER_RESERVE) if c.strip()]
    return [f"{chunk}\n({i}/{len(chunks)})" for i, chunk in enumerate(chunks, start=1)]


# --- channels --------------------------------------------------------------------


class BaseChannel:
    code: str = ""
    required_settings: tuple[str, ...] = ()

    def not_configured_reason(self, delivery) -> str:
        missing = [name for name in self.required_settings if not getattr(settings, name, "")]
        return f"not configured: set {' and '.join(missing)}" if missing else ""

    def target_name(self, delivery) -> str:
        return Channel(self.code).label

    def send(self, delivery, progress: Progress) -> Sent:  # pragma: no cover - interface
        raise NotImplementedError

    def published(self, delivery) -> tuple[str, str | None] | None:
        """What a sent delivery left behind in the portal, as (name, admin URL or None); None: nothing."""
        return None

    # --- batches (deliveries sharing one DeliveryContent: a fan-out), see sending.deliveries_send -------------

    # Channels whose shared-content deliveries are sent in batches (one task, one audit event per batch).
    batched: bool = False

    def prepare(self, deliveries) -> None:
        """Load what `send` needs for many deliveries at once (their recipients), before a batch is sent."""

    def recipient_ref(self, delivery) -> str:
        """How a batch's audit event names this delivery's recipient (a public id, never an address)."""
        return f"delivery-{delivery.pk}"

    def send_batch(self, deliveries, progress_for, on_result) -> None:
        """Send each delivery and report each outcome as it happens: `on_result(delivery, Sent | DeliveryError)`.

        The default sends one after the other; channels override it to share a connection or send concurrently."""
        for delivery in deliveries:
            try:
                result = self.send(delivery, progress_for(delivery))
            except DeliveryError as exc:
                on_result(delivery, exc)
            except NotConfigured as exc:
                on_result(delivery, exc)
            except Exception as exc:  # a bug or an unexpected library error: this delivery only, retried
                on_result(delivery, TemporaryFailure(f"{type(exc).__name__}: {exc}", response="error"))
            else:
                on_result(delivery, result)


def _parse_retry_after(response: requests.Response) -> float | None:
    try:
        data = response.json()
        if isinstance(data, dict) and data.get("retry_after") is not None:
            return float(data["retry_after"])
    except ValueError:
        pass
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(header)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    return None


def _describe(response: requests.Response) -> str:
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


class WebhookChannel(BaseChannel):
    """A JSON webhook: POST one payload per message part, classify the answer."""

    url_setting: str = ""
    max_length: int = 40_000
    name: str = "webhook"

    @property
    def required_settings(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.url_setting,)

    def target_name(self, delivery) -> str:
        return self.name

    def payloads(self, delivery) -> list[dict]:  # pragma: no cover - interface
        raise NotImplementedError

    def send(self, delivery, progress: Progress) -> Sent:
        url = getattr(settings, self.url_setting)
        payloads = self.payloads(delivery)
        progress.total(len(payloads))
        started = time.monotonic()
        last = ""
        for index in range(delivery.parts_sent, len(payloads)):
            if index > delivery.parts_sent and time.monotonic() - started > ATTEMPT_BUDGET_SECONDS:
                raise TemporaryFailure(
                    f"attempt time budget used up after part {index} of {len(payloads)}; the next attempt continues",
                    response=last,
                )
            response = self.post(url, payloads[index], part=(index + 1, len(payloads)))
            last = _describe(response)
            progress.part_sent(index + 1)
        suffix = f" ({len(payloads)} parts)" if len(payloads) > 1 else ""
        return Sent(response=f"{last}{suffix}")

    def post(self, url: str, payload: dict, *, part: tuple[int, int]) -> requests.Response:
        where = f"part {part[0]} of {part[1]}: " if part[1] > 1 else ""
        waits = 0
        while True:
            try:
                response = webhook_post(
                    url,
                    json=payload,
                    timeout=(settings.OPS_NOTIFY_CONNECT_TIMEOUT, settings.OPS_NOTIFY_READ_TIMEOUT),
                    headers={"User-Agent": USER_AGENT},
                )
            except WebhookRefused as exc:  # an internal address or a redirect: retrying cannot help
                raise PermanentFailure(f"{where}{exc}", response="not sent") from None
            except (
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL,
            ):
                raise PermanentFailure(f"{self.url_setting} is not a valid http(s) URL", response="not sent") from None
            except requests.RequestException as exc:
                raise TemporaryFailure(f"{where}{type(exc).__name__}: {exc}", response="no response") from None
            outcome = policy.http_outcome(response.status_code)
            if outcome == policy.SENT:
                return response
            text = response.text[:2000]
            if response.status_code == 429:
                retry_after = _parse_retry_after(response)
                if policy.may_wait_inline(
                    retry_after=retry_after,
                    limit=settings.OPS_NOTIFY_INLINE_WAIT,
                    waits_so_far=waits,
                    max_waits=MAX_INLINE_WAITS,
                ):
                    waits += 1
                    logger.info("%s rate limited (429): waiting %.2f s as asked (retry_after)", self.name, retry_after)
                    sleep(retry_after)
                    continue
                raise TemporaryFailure(
                    f"{where}HTTP 429 rate limited (retry_after={retry_after}): {text}",
                    response=_describe(response),
                    retry_after=retry_after,
                )
            if outcome == policy.RETRY:
                raise TemporaryFailure(f"{where}HTTP {response.status_code}: {text}", response=_describe(response))
            raise PermanentFailure(f"{where}HTTP {response.status_code}: {text}", response=_describe(response))


class DiscordChannel(WebhookChannel):
    code = Channel.DISCORD
    url_setting = "DISCORD_WEBHOOK_URL"
    max_length = 2000  # Discord's limit for `content`
    name = "Discord webhook"

    def payloads(self, delivery) -> list[dict]:
        # No @everyone/@here/role pings from message text: announcements inform, they do not wake people.
        return [
            {"content": part, "allowed_mentions": {"parse": []}}
            for part in split_message(delivery.message or delivery.body, self.max_length)
        ]


class SlackChannel(WebhookChannel):
    code = Channel.SLACK
    url_setting = "SLACK_WEBHOOK_URL"
    max_length = 40_000  # Slack truncates `text` beyond this
    name = "Slack alerts channel"

    def payloads(self, delivery) -> list[dict]:
        return [{"text": part} for part in split_message(delivery.message or delivery.body, self.max_length)]


class SlackTeamOpsChannel(SlackChannel):
    code = Channel.SLACK_TEAM_OPS
    url_setting = "SLACK_TEAM_OPS_WEBHOOK_URL"
    name = "Slack #team-ops"


def pager_dedup_key(delivery) -> str:
    """The alert key: the caller's, else one per related object, so trigger/acknowledge/resolve meet."""
    if delivery.dedup_key:
        return delivery.dedup_key[:255]
    if delivery.related_type_id and delivery.related_id:
        from django.contrib.contenttypes.models import ContentType

        ct = ContentType.objects.get_for_id(delivery.related_type_id)
        return f"ersen-ops/{ct.app_label}.{ct.model}/{delivery.related_id}"
    return f"ersen-ops/delivery/{delivery.pk}"


class PagerChannel(WebhookChannel):
    """PagerDuty Events API v2 shape: trigger pages, acknowledge acks, resolve resolves the same alert (dedup_key)."""

    code = Channel.PAGER
    url_setting = "PAGER_WEBHOOK_URL"
    name = "Pager (Events API v2)"
    source = "ersen-ops"

    @property
    def required_settings(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("PAGER_WEBHOOK_URL", "PAGER_ROUTING_KEY")

    def payloads(self, delivery) -> list[dict]:
        action = delivery.pager_action or PagerAction.TRIGGER
        event = {
            "routing_key": settings.PAGER_ROUTING_KEY,
            "event_action": action,
            "dedup_key": pager_dedup_key(delivery),
        }
        if action == PagerAction.TRIGGER:
            summary = ((delivery.message or "").strip() or delivery.subject).splitlines()[0]
            event["payload"] = {
                "summary": summary[:1024],
                "severity": policy.pager_severity(delivery.severity),
                "source": self.source,
                "custom_details": {"event": delivery.event, "details": delivery.body[:10_000]},
            }
            event["client"] = f"{settings.OPS_STATUS_PAGE_NAME} Ops"
            event["client_url"] = settings.OPS_STATUS_PAGE_URL
        return [event]


# --- email -------------------------------------------------------------------------


class _RecordingSMTPMixin:
    """Keeps the server's reply to DATA (e.g. "250 2.0.0 Ok: queued as 4F2…") and refused recipients; runs
    `before_data` (if set) before DATA, the last moment before the server can accept the message."""

    last_reply: tuple[int, bytes] | None = None
    refused: dict = {}
    before_data: Callable[[], None] | None = None

    def data(self, msg):
        if self.before_data is not None:
            self.before_data()
        code, reply = super().data(msg)
        self.last_reply = (code, reply)
        return code, reply

    def sendmail(self, *args, **kwargs):
        self.refused = super().sendmail(*args, **kwargs)
        return self.refused


class _RecordingSMTP(_RecordingSMTPMixin, smtplib.SMTP):
    pass


class _RecordingSMTPSSL(_RecordingSMTPMixin, smtplib.SMTP_SSL):
    pass


class RecordingSMTPBackend(DjangoSMTPBackend):
    """Django's SMTP backend (EMAIL_URL settings, TLS, login) that also remembers the server's reply."""

    last_reply: str = ""
    refused: dict = {}

    @property
    def connection_class(self):
        return _RecordingSMTPSSL if self.use_ssl else _RecordingSMTP

    def _send(self, email_message):
        result = super()._send(email_message)
        self._remember()
        return result

    def send_raw(self, from_email: str, recipients: list[str], data: bytes) -> None:
        """Send a message already serialised (a batch's template, mailtemplate.py) on the open connection, keeping
        the reply exactly as `_send` does. Raises what smtplib raises (EmailChannel.deliver_raw reads it)."""
        if self.connection is None:
            self.open()
        self.connection.sendmail(from_email, recipients, data)
        self._remember()

    def _remember(self) -> None:
        reply = getattr(self.connection, "last_reply", None)
        if reply:
            code, text = reply
            self.last_reply = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
        self.refused = dict(getattr(self.connection, "refused", {}) or {})


def _smtp_reply(code, message) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


# Events whose email goes only to the people named on the delivery (e.g. the on-call engineer asked to confirm),
# not to the team list OPS_EMAIL_TO. Apps above register theirs (register_personal_email_event).
PERSONAL_EMAIL_EVENTS: set[str] = set()


def register_personal_email_event(event: str) -> None:
    PERSONAL_EMAIL_EVENTS.add(event)


@functools.lru_cache(maxsize=8)
def _sender_domain(from_email: str) -> str:
    # Parsed once per sender, not once per message of a batch.
    return email.utils.parseaddr(from_email)[1].rpartition("@")[2] or "ersen-ops.invalid"


class EmailChannel(BaseChannel):
    code = Channel.EMAIL

    def recipients(self, delivery) -> list[str]:
        if delivery.event in PERSONAL_EMAIL_EVENTS:
            return list(dict.fromkeys(delivery.extra_recipients or []))
        return list(dict.fromkeys([*settings.OPS_EMAIL_TO, *(delivery.extra_recipients or [])]))

    def not_configured_reason(self, delivery) -> str:
        if self.recipients(delivery):
            return ""
        if delivery.event in PERSONAL_EMAIL_EVENTS:
            return "no recipient: the person has no email address"
        return "not configured: set OPS_EMAIL_TO"

    def target_name(self, delivery) -> str:
        recipients = self.recipients(delivery)
        if not recipients:
            return "Email (no recipients)"
        if len(recipients) == 1:
            return recipients[0][:200]
        return f"{recipients[0]} ({len(recipients)} recipients)"[:200]

    def _backend(self):
        if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
            return RecordingSMTPBackend(fail_silently=False, timeout=settings.OPS_NOTIFY_READ_TIMEOUT)
        return get_connection(fail_silently=False)

    def message_id(self, delivery) -> str:
        # Stable per delivery, so a receiving system can drop a duplicate after a crash-and-retry.
        domain = _sender_domain(settings.DEFAULT_FROM_EMAIL)
        return f"<notification-{delivery.pk}.{delivery.created_at:%Y%m%d%H%M%S}@{domain}>"

    def texts(self, delivery) -> tuple[str, str]:
        """(plain text, HTML) of the message as this recipient reads it."""
        return delivery.text, delivery.text_html

    # --- one serialised message per batch (mailtemplate.py) ----------------------------------------------------

    # The placeholders `template_texts` leaves in the texts (and headers) for `personal_values` to fill.
    placeholders: tuple[str, ...] = ()

    def template_key(self, delivery):
        """What the deliveries sharing one serialised message have in common (None: each message is built on its
        own, the default). A channel returning a key also implements `template_texts` and `personal_values`."""
        return None

    def template_texts(self, delivery) -> tuple[str, str]:
        """(plain text, HTML) with the per-recipient parts still as their placeholders."""
        raise NotImplementedError

    def personal_values(self, delivery, needed: frozenset[str]) -> dict[str, str] | None:
        """This recipient's values: "to" (the address), "message_id", and one per placeholder of `needed` that
        `template_texts` left in; None when its message must be built on its own."""
        raise NotImplementedError

    def build_message(self, delivery, placeholders: dict[str, str] | None = None) -> EmailMultiAlternatives:
        """The message of `delivery`; with `placeholders` ({"to": …, "message_id": …}) the batch's template of it:
        the texts of `template_texts` and those placeholders in place of the recipient and the Message-ID."""
        if placeholders is None:
            text, html = self.texts(delivery)
            to, message_id = self.recipients(delivery), self.message_id(delivery)
        else:
            text, html = self.template_texts(delivery)
            to, message_id = [placeholders["to"]], placeholders["message_id"]
        message = EmailMultiAlternatives(
            subject=one_line(delivery.heading),  # rows older than the single-line rule: CR/LF become spaces
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=to,
            headers={
                "Message-ID": message_id,
                "Auto-Submitted": "auto-generated",
                "X-Ersen-Event": delivery.event,
            },
        )
        if html:
            message.attach_alternative(html, "text/html")
        return message

    def send(self, delivery, progress: Progress) -> Sent:
        message = self.build_message(delivery)
        backend = self._backend()
        progress.total(1)
        result = self.deliver(backend, message)
        progress.part_sent(1)
        return result

    def send_batch(self, deliveries, progress_for, on_result) -> None:
        """Many messages over ONE connection (`get_connection()` kept open, one `send_messages` per message), so
        each message's reply is recorded and a refused recipient fails alone. A dropped connection fails the
        message it was carrying (retried later) and the next message opens a new one."""
        backend = self._backend()
        # Over SMTP, deliveries sharing a template (template_key) are sent as its bytes with their own values in.
        templates = _Templates(self) if hasattr(backend, "send_raw") else None
        previous: Progress | None = None
        try:
            for delivery in deliveries:
                progress = progress_for(delivery)
                if previous is not None:
                    # The previous message's delivered mark is written while this one's MAIL/RCPT go; it is durable
                    # before this message's DATA (SMTP) or before this message is sent at all (other backends).
                    if getattr(backend, "connection", None) is not None:
                        backend.connection.before_data = previous.settle
                    else:
                        previous.settle()
                    previous = None
                try:
                    raw = templates.render(delivery) if templates is not None else None
                    message = self.build_message(delivery) if raw is None else None
                    if getattr(backend, "connection", True) is None:
                        try:
                            backend.open()
                        except (smtplib.SMTPException, OSError) as exc:
                            raise TemporaryFailure(f"{type(exc).__name__}: {exc}", response="no response") from None
                    progress.total(1)
                    result = self.deliver(backend, message) if raw is None else self.deliver_raw(backend, *raw)
                except DeliveryError as exc:
                    if getattr(exc, "connection_lost", False):
                        _close_quietly(backend)  # the connection is unusable: the next message opens another
                    on_result(delivery, exc)
                    continue
                except Exception as exc:  # a bug or an unexpected library error: this message only, retried
                    _close_quietly(backend)
                    on_result(delivery, TemporaryFailure(f"{type(exc).__name__}: {exc}", response="error"))
                    continue
                progress.part_sent(1)
                previous = progress
                on_result(delivery, result)
        finally:
            if previous is not None:
                previous.settle()
            _close_quietly(backend)

    def deliver(self, backend, message) -> Sent:
        """Send one built message on `backend` (opened or not); the reply, or a DeliveryError saying what it means."""
        with _smtp_outcome():
            backend.send_messages([message])
        return _sent(backend)

    def deliver_raw(self, backend, from_email: str, recipients: list[str], data: bytes) -> Sent:
        """Send one serialised message (a batch's template rendered for its recipient) on `backend`, read as
        `deliver` reads it."""
        with _smtp_outcome():
            backend.send_raw(from_email, recipients, data)
        return _sent(backend)


@contextlib.contextmanager
def _smtp_outcome() -> Iterator[None]:
    """What an SMTP exception means for the message being sent: Permanent/TemporaryFailure (masked)."""
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        replies = {addr: _smtp_reply(code, text) for addr, (code, text) in exc.recipients.items()}
        first = next(iter(replies.values()), "")
        error = "all recipients refused: " + "; ".join(f"{a}: {r}" for a, r in replies.items())
        if all(policy.smtp_outcome(code) == policy.FAIL for code, _ in exc.recipients.values()):
            raise PermanentFailure(error, response=first[:300]) from None
        raise TemporaryFailure(error, response=first[:300]) from None
    except smtplib.SMTPResponseException as exc:
        reply = _smtp_reply(exc.smtp_code, exc.smtp_error)
        kind = PermanentFailure if policy.smtp_outcome(exc.smtp_code) == policy.FAIL else TemporaryFailure
        failure = kind(f"{type(exc).__name__}: {reply}", response=reply[:300])
        failure.connection_lost = exc.smtp_code == 421  # "service not available, closing channel"
        raise failure from None
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections and timeouts
        failure = TemporaryFailure(f"{type(exc).__name__}: {exc}", response="no response")
        failure.connection_lost = True
        raise failure from None
    except ValueError as exc:  # BadHeaderError, an unencodable address…: the same message fails every time
        raise PermanentFailure(
            f"malformed message, not retried: {type(exc).__name__}: {exc}", response="not sent"
        ) from None


def _sent(backend) -> Sent:
    reply = getattr(backend, "last_reply", "") or f"accepted by {type(backend).__module__.rsplit('.', 1)[-1]} backend"
    refused = getattr(backend, "refused", {}) or {}
    detail = ""
    if refused:
        detail = "refused: " + "; ".join(f"{a}: {_smtp_reply(c, t)}" for a, (c, t) in refused.items())
    return Sent(response=reply[:300], detail=detail)


# A bare ASCII address: Django's sanitize_address leaves it as it is, so a template may take it verbatim.
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$")


class _Templates:
    """A batch's serialised messages, one per `template_key`, and each recipient's bytes rendered from them."""

    def __init__(self, channel: EmailChannel):
        self.channel = channel
        self.made: dict[object, tuple[MessageTemplate, dict[str, str], str] | None] = {}
        self._date: tuple[int, str] = (0, "")

    def render(self, delivery) -> tuple[str, list[str], bytes] | None:
        """(envelope sender, [recipient], bytes) of this delivery's message, or None: build it on its own."""
        key = self.channel.template_key(delivery)
        if key is None:
            return None
        if key not in self.made:
            self.made[key] = self._make(delivery)
        made = self.made[key]
        if made is None:
            return None
        template, names, envelope_from = made
        values = self.channel.personal_values(delivery, template.placeholders)
        if values is None or not _PLAIN_ADDRESS.match(values.get("to", "")):
            return None
        values[names["to"]] = values.pop("to")
        values[names["message_id"]] = values.pop("message_id")
        values[names["date"]] = self.date()
        data = template.render(values)
        return (envelope_from, [values[names["to"]]], data) if data is not None else None

    def _make(self, delivery):
        token = secrets.token_hex(6)  # placeholders no text of ours can contain by chance
        names = {part: f"__ERSEN_{part.upper()}_{token}__" for part in ("to", "message_id", "date")}
        message = self.channel.build_message(delivery, placeholders=names)
        mime = message.message()
        mime.replace_header("Date", names["date"])
        try:
            template = MessageTemplate(mime.as_bytes(linesep="\r\n"), [*names.values(), *self.channel.placeholders])
        except TemplateRefused as exc:
            logger.info("%s: each message built on its own (%s)", self.channel.code, exc)
            return None
        if not {names["to"], names["message_id"], names["date"]} <= template.placeholders:
            return None
        encoding = message.encoding or settings.DEFAULT_CHARSET
        return template, names, sanitize_address(message.from_email, encoding)

    def date(self) -> str:
        # The Date header Django writes, computed once per second instead of once per message.
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, email.utils.formatdate(second, localtime=settings.EMAIL_USE_LOCALTIME))
        return self._date[1]


def _close_quietly(backend) -> None:
    try:
        backend.close()
    except Exception:  # noqa: BLE001 - closing a broken connection: nothing more to learn from it
        if hasattr(backend, "connection"):
            backend.connection = None


CHANNELS: dict[str, BaseChannel] = {
    Channel.EMAIL: EmailChannel(),
    Channel.DISCORD: DiscordChannel(),
    Channel.SLACK: SlackChannel(),
    Channel.SLACK_TEAM_OPS: SlackTeamOpsChannel(),
    Channel.PAGER: PagerChannel(),
}


def get_channel(code: str) -> BaseChannel:
    return CHANNELS[code]


def register_channel(channel: BaseChannel) -> None:
    """Install the sender of a channel another app owns (the status app's status page, the subscribers app's
    per-subscriber email and webhook).

    The claim, retry, sweeper and audit of `sending.py` then apply to its deliveries unchanged.
    """
    from ersen_ops.notifications.choices import DELIVERY_CHANNEL_CHOICES

    if channel.code not in dict(DELIVERY_CHANNEL_CHOICES):
        raise ValueError(f"unknown notification channel {channel.code!r}: add it to DELIVERY_CHANNEL_CHOICES")
    CHANNELS[channel.code] = channel
