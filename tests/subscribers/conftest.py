"""Subscriber tests: real receivers (aiosmtpd for mail, pytest-httpserver for webhooks) and the real pipeline.

`pipeline()` runs a block and then everything it queued after commit, through django-q's sync path, as
the worker would: notify() → status-page delivery → StatusPost → notice → chunks → one delivery per
subscriber → SMTP / HTTP. It fails the test if any task failed (django-q would only record it).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from tests.receivers import Mailbox, smtp_receiver


@pytest.fixture(autouse=True)
def page_settings(settings):
    settings.OPS_STATUS_PAGE_URL = "http://testserver"
    settings.OPS_STATUS_PAGE_NAME = "Ersen"
    settings.OPS_STATUS_PAGE_ID = "ersen"
    settings.OPS_MAINTENANCE_TZ = "America/Los_Angeles"
    settings.OPS_SUBSCRIBE_LIMIT_PER_ADDRESS = 3
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 20
    settings.OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES = 60
    settings.OPS_SUBSCRIBE_CONFIRM_HOURS = 48
    settings.OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER = 10
    settings.OPS_SUBSCRIBER_FANOUT_CHUNK = 200
    settings.OPS_SUBSCRIBER_EMAIL_FROM = "Ersen Status <status@ersen.xyz>"
    settings.OPS_NOTIFY_RETRY_DELAYS = [30, 60, 120, 300, 600, 900]
    settings.OPS_NOTIFY_CONNECT_TIMEOUT = 2
    settings.OPS_NOTIFY_READ_TIMEOUT = 5
    settings.OPS_NOTIFY_INLINE_WAIT = 0
    settings.OPS_EMAIL_TO = []  # the ops team's own email channel stays quiet: only subscribers are watched


@pytest.fixture(autouse=True)
def _fresh_status_cache():
    from statuspage import caching

    caching.documents.clear()
    yield
    caching.documents.clear()


@pytest.fixture
def sync_queue(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def pipeline(sync_queue, django_capture_on_commit_callbacks):
    @contextmanager
    def _run():
        from django_q.models import Failure

        before = set(Failure.objects.values_list("id", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            yield
        failed = Failure.objects.exclude(id__in=before)
        assert not failed.exists(), [(f.func, f.result) for f in failed]

    return _run


@pytest.fixture
def postlaunch(db):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free port; Django's SMTP backend pointed at it."""
    with smtp_receiver(settings, Mailbox(queue_id="SUB42")) as mailbox:
        yield mailbox


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


def html(message) -> str:
    return message.get_body(("html",)).get_content()


def link(text: str, kind: str) -> str:
    """The path of the first /subscriptions/<kind>/<token> link in `text`."""
    match = re.search(rf"https?://[^\s\"<>]+/subscriptions/{kind}/[^\s\"<>]+", text)
    assert match, f"no {kind} link in:\n{text}"
    return urlsplit(match.group(0)).path


def calendar_of(message):
    from icalendar import Calendar

    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_content()), part
    return None, None


def subject(message) -> str:
    """The decoded Subject (a long, non-ASCII subject is folded right after the colon: drop that space)."""
    return str(message["Subject"]).strip()
