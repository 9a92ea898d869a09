"""Fixtures for notification tests: real receivers (pytest-httpserver for webhooks, aiosmtpd for SMTP)."""

from __future__ import annotations

import email
import email.policy
import socket
from contextlib import contextmanager

import pytest

# Secret-looking parts of the webhook URLs: tests assert they never reach a row or a log line.
DISCORD_TOKEN = "discord-SECRET-token-0123456789abcdefghij"
SLACK_TOKEN = "slackSECRETtoken0123456789ABCD"
TEAM_OPS_TOKEN = "teamopsSECRETtoken9876543210XYZ"
ROUTING_KEY = "R0UTINGKEYsecret0123456789abcdef"
DISCORD_PATH = f"/api/webhooks/1180000000000000001/{DISCORD_TOKEN}"
SLACK_PATH = f"/services/T0000/B0000/{SLACK_TOKEN}"
TEAM_OPS_PATH = f"/services/T0000/B1111/{TEAM_OPS_TOKEN}"
PAGER_PATH = "/v2/enqueue"
SECRETS = (DISCORD_TOKEN, SLACK_TOKEN, TEAM_OPS_TOKEN, ROUTING_KEY)


@pytest.fixture
def sync_queue(monkeypatch):
    """django-q runs tasks inline (Conf is read at import, so patch it, as stack-notes say)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def webhooks(settings, httpserver):
    """Discord, Slack, Slack #team-ops and the pager all pointed at one local HTTP server."""
    settings.DISCORD_WEBHOOK_URL = httpserver.url_for(DISCORD_PATH)
    settings.SLACK_WEBHOOK_URL = httpserver.url_for(SLACK_PATH)
    settings.SLACK_TEAM_OPS_WEBHOOK_URL = httpserver.url_for(TEAM_OPS_PATH)
    settings.PAGER_WEBHOOK_URL = httpserver.url_for(PAGER_PATH)
    settings.PAGER_ROUTING_KEY = ROUTING_KEY
    settings.OPS_NOTIFY_RETRY_DELAYS = [30, 60, 120, 300, 600, 900]
    settings.OPS_NOTIFY_INLINE_WAIT = 5
    settings.OPS_NOTIFY_CONNECT_TIMEOUT = 2
    settings.OPS_NOTIFY_READ_TIMEOUT = 5
    return httpserver


@pytest.fixture
def send(sync_queue, django_capture_on_commit_callbacks):
    """Run `fn` and then whatever it queued after commit, through django-q's sync path."""

    @contextmanager
    def _committing():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return _committing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPRecorder:
    """An aiosmtpd handler that keeps every message and can refuse chosen recipients."""

    def __init__(self):
        self.envelopes = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as TEST42"

    def messages(self):
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free port; Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.OPS_EMAIL_TO = ["ops@ersen.xyz", "oncall@ersen.xyz"]
    try:
        yield recorder
    finally:
        controller.stop()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:8]}… leaked"
