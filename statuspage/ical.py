"""The maintenance calendar (`/maintenance.ics`, the `icalendar` library).

One VEVENT per upcoming, running or recently finished window: UID from the window's public
id (stable), DTSTART/DTEND in UTC, SUMMARY and DESCRIPTION from the announcement, SEQUENCE
from `CalendarSequence` (bumped whenever what the event shows changes) and STATUS:CANCELLED
for cancelled windows, so a subscribed calendar follows reschedules and cancellations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from icalendar import Calendar, Event

from statuspage import selectors
from statuspage.snapshot import shortlink

PRODID = "-//Ersen Ops//Public maintenance calendar//EN"


def uid_host() -> str:
    return urlparse(settings.OPS_STATUS_PAGE_URL).hostname or "ersen-ops"


def new_calendar() -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    return cal


def window_event(window, fields: dict, sequence) -> Event:
    """The VEVENT of one window: the same UID, SEQUENCE and fields wherever the window is sent
    (this feed, and the .ics attached to subscriber email)."""
    link = shortlink(window.public_id)
    stamp = sequence.changed_at if sequence is not None else window.updated_at
    event = Event()
    event.add("uid", f"{window.public_id}@{uid_host()}")
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", sequence.sequence if sequence is not None else 0)
    event.add("dtstart", fields["start"])
    event.add("dtend", fields["end"])
    event.add("summary", fields["summary"])
    event.add("description", (fields["description"] + "\n\n" if fields["description"] else "") + link)
    event.add("url", link)
    event.add("status", fields["status"])
    event.add("transp", "OPAQUE")
    event.add("categories", ["Maintenance"])
    return event


def calendar_bytes(*, now: datetime) -> bytes:
    cal = new_calendar()
    cal.add("x-wr-calname", f"{settings.OPS_STATUS_PAGE_NAME} maintenance")
    cal.add("x-wr-caldesc", f"Planned maintenance of {settings.OPS_STATUS_PAGE_NAME}, from its status page.")
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for window, fields, sequence in selectors.calendar_windows(now=now):
        cal.add_component(window_event(window, fields, sequence))
    return cal.to_ical()
