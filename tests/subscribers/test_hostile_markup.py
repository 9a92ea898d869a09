"""Operator text with XSS payloads, through every HTML output that leaves the portal: the Atom and RSS feeds,
the public page and event pages, ops email, subscriber email and the maintenance announcement.

Each output is parsed (feedparser with its own sanitiser off, so we see what a reader would get; an HTML
parser for pages and email) and must hold no executable markup, while benign text reads as written.
"""

from __future__ import annotations

import re
from datetime import timedelta

import feedparser
import pytest
from django.core import mail

from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.services import notify
from incidents.choices import Impact, Level
from incidents.services import incident_open, incident_post_update
from maintenance import services as maintenance_services
from subscribers.fanout import notice_email
from subscribers.models import Notice
from tests.factories import ComponentFactory
from tests.hostile import BENIGN, XSS_PAYLOADS, executable_markup, visible_text
from tests.incidents.factories import CommanderFactory
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.subscribers.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

TITLE = "Latency < 200 ms & <b>AT&T</b>"


def html_part(message) -> str:
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    return html


def main_of(page: str) -> str:
    """The page's content (its own head, style, script and subscribe form are the page's, not the operator's)."""
    main = page[page.index("<main") : page.index("</main>")]
    return re.sub(r'<form method="get" action="/[^"]*subscri[^"]*">.*?</form>', "", main, count=1, flags=re.S)


def email_markup(message) -> list[str]:
    """What the email template itself carries (its html/body tags, inline styles); the same for every email,
    whatever the operator wrote, is the assertion."""
    return executable_markup(html_part(message))


def displayed(entry, field: str) -> str:
    """What a reader shows for a feed field: HTML rendered to its text, plain text as it is."""
    value = entry[field]
    return visible_text(value) if entry[f"{field}_detail"]["type"] == "text/html" else value


def feeds(client):
    for url in ("/history.atom", "/history.rss"):
        response = client.get(url)
        assert response.status_code == 200
        yield url, feedparser.parse(response.content, sanitize_html=False)


def corpus_updates(size: int = 8) -> list[str]:
    """The corpus in a few updates (each payload on its own paragraph): every payload is seen, the pipeline
    runs a handful of times rather than once per payload (each payload alone: tests/core/test_markup.py)."""
    return ["\n\n".join(XSS_PAYLOADS[i : i + size]) for i in range(0, len(XSS_PAYLOADS), size)]


def test_an_incident_with_hostile_updates_is_sanitised_in_feeds_pages_and_subscriber_email(
    client, pipeline, postlaunch
):
    api = ComponentFactory(name="API")
    SubscriberFactory(email="reader@example.com")
    actor = CommanderFactory(username="ic")
    with pipeline():
        incident = incident_open(
            actor=actor, title=TITLE, level=Level.P3, components={api: Impact.DEGRADED_PERFORMANCE}, message=BENIGN
        )
        for body in corpus_updates():
            incident_post_update(actor=actor, incident=incident, status="investigating", body=body)
    updates = len(corpus_updates()) + 1

    for url, feed in feeds(client):
        assert not feed.bozo, (url, feed.bozo_exception)
        assert len(feed.entries) == updates
        for entry in feed.entries:
            assert executable_markup(entry.summary) == [], (url, entry.summary)
            assert displayed(entry, "title").startswith(f"Incident: {TITLE} — "), (url, entry.title)
        assert "latency < 200 ms & AT&T's" in visible_text(feed.entries[-1].summary), url  # the opening message

    for url in ("/", f"/incidents/{incident.public_id}"):
        content = main_of(client.get(url).content.decode())
        assert executable_markup(content) == [], url
        assert TITLE in visible_text(content), url
    assert "latency < 200 ms & AT&T's" in visible_text(
        main_of(client.get(f"/incidents/{incident.public_id}").content.decode())
    )

    emails = [m for m in mail.outbox if m.to == ["reader@example.com"]]
    assert len(emails) == updates
    (benign,) = [m for m in emails if "latency < 200 ms & AT&T's" in visible_text(html_part(m))]
    for message in emails:
        assert email_markup(message) == email_markup(benign), message.subject


def test_ops_email_html_holds_no_executable_markup(settings, pipeline):
    settings.OPS_EMAIL_TO = ["ops@example.com"]
    with pipeline():
        for body in [*corpus_updates(), BENIGN]:
            notify(event="incident.updated", channels=[Channel.EMAIL], subject=TITLE, body=body)
    ops = [m for m in mail.outbox if "ops@example.com" in m.to]
    assert len(ops) == len(corpus_updates()) + 1
    benign = ops[-1]
    assert "latency < 200 ms & AT&T's" in visible_text(html_part(benign))
    for message in ops:
        assert email_markup(message) == email_markup(benign), message.body
        assert message.subject == TITLE


def test_the_announcement_of_a_window_with_a_hostile_reason_is_sanitised_everywhere(
    client, pipeline, users, postlaunch
):
    reason = "\n\n".join([BENIGN, *XSS_PAYLOADS])
    window = MaintenanceWindowFactory(
        title=TITLE, reason=reason, owner=users["operator"], on_call_engineer=users["approver"],
        components=[ComponentFactory(name="Database")],
    )  # fmt: skip
    SubscriberFactory(email="reader@example.com")
    with pipeline():
        maintenance_services.window_schedule(
            actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(days=3)
        )
    window.refresh_from_db()
    assert "<script>alert(1)</script>" in window.announcement  # kept as written: Markdown, sanitised on output
    for url, feed in feeds(client):
        (entry,) = feed.entries
        assert executable_markup(entry.summary) == [], (url, entry.summary)
        assert "latency < 200 ms & AT&T's" in visible_text(entry.summary)
    page = client.get(f"/incidents/{window.public_id}").content.decode()
    assert executable_markup(main_of(page)) == []
    assert "latency < 200 ms & AT&T's" in visible_text(main_of(page))
    (email,) = [m for m in mail.outbox if m.to == ["reader@example.com"]]
    notice = Notice.objects.get()
    notice.body = BENIGN  # the same notice with harmless text: the template's own markup, nothing more allowed
    assert email_markup(email) == executable_markup(notice_email(notice)[1])
    assert "latency < 200 ms & AT&T's" in visible_text(html_part(email))
