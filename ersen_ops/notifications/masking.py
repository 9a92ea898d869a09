"""Keeping secrets (webhook URLs, routing key, SMTP password) out of the database, the admin and the logs.

`mask(text)` replaces every occurrence of a configured secret — and of the parts
of a secret URL that libraries like to quote on their own (the path, a long
token segment, the query) — with `[masked:NAME]`. Every error text we store
and every log line we write goes through it; `SecretMaskingFilter` does the same
for log records of the HTTP/SMTP libraries we call (urllib3 logs request paths).
"""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings

# Settings whose values are secrets.
SECRET_SETTINGS = (
    "DISCORD_WEBHOOK_URL",
    "SLACK_WEBHOOK_URL",
    "SLACK_TEAM_OPS_WEBHOOK_URL",
    "PAGER_WEBHOOK_URL",
    "PAGER_ROUTING_KEY",
    "EMAIL_HOST_PASSWORD",
)

# Shorter fragments would mask ordinary words; a real token is much longer.
MIN_FRAGMENT = 16
MIN_SECRET = 4


def fragments(value: str, *, min_fragment: int = MIN_FRAGMENT) -> set[str]:
    """The secret itself plus the pieces of it that can appear alone in an error message."""
    found = {value}
    if "://" in value:
        parts = urlsplit(value)
        found.add(value.split("://", 1)[1])  # without scheme
        path_query = parts.path + (f"?{parts.query}" if parts.query else "")
        for piece in (path_query, parts.path, parts.query, parts.password or ""):
            if len(piece) >= min_fragment or (piece == parts.path and len(piece) > 1 and piece.count("/") > 1):
                found.add(piece)
        for segment in parts.path.split("/") + parts.query.replace("&", "=").split("="):
            if len(segment) >= min_fragment:
                found.add(segment)
    # Libraries sometimes quote or unquote what they print.
    for piece in list(found):
        found.add(quote(piece, safe="/:?=&"))
        found.add(unquote(piece))
    return {f for f in found if len(f) >= MIN_SECRET}


def secret_fragments() -> list[tuple[str, str]]:
    """(fragment, setting name), longest first so a whole URL is replaced before its parts."""
    pairs = []
    for name in SECRET_SETTINGS:
        value = str(getattr(settings, name, "") or "")
        if len(value) < MIN_SECRET:
            continue
        pairs.extend((fragment, name) for fragment in fragments(value))
    pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
    return pairs


def mask(text) -> str:
    """`text` with every configured secret (or recognisable piece of one) replaced by `[masked:NAME]`."""
    if text is None:
        return ""
    text = str(text)
    for fragment, name in secret_fragments():
        if fragment in text:
            text = text.replace(fragment, f"[masked:{name}]")
    return text


class SecretMaskingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback text) with secrets masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            masked = mask(message)
            if masked != message:
                record.msg, record.args = masked, ()
            if record.exc_info and not record.exc_text:
                record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = mask(record.exc_text)
        except Exception:  # pragma: no cover - a logging filter must never raise
            pass
        return True


# Loggers that see secret URLs or SMTP conversations: ours, and the libraries we call.
# Logger filters only see records logged at that exact logger, so every module here logs as
# "ersen_ops.notifications" (LOGGER_NAME).
LOGGER_NAME = "ersen_ops.notifications"
MASKED_LOGGERS = (LOGGER_NAME, "urllib3.connectionpool", "urllib3.util.retry", "requests", "django-q", "django.request")


def install_log_masking() -> None:
    masking_filter = SecretMaskingFilter()
    for name in MASKED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretMaskingFilter) for f in logger.filters):
            logger.addFilter(masking_filter)
