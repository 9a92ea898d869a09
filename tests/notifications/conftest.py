"""Fixtures for notification tests: real receivers (pytest-httpserver for webhooks, aiosmtpd for SMTP)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.receivers import smtp_receiver

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


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free port; Django's SMTP backend pointed at it."""
    with smtp_receiver(settings) as mailbox:
        settings.OPS_EMAIL_TO = ["ops@ersen.xyz", "oncall@ersen.xyz"]
        yield mailbox


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:8]}… leaked"
