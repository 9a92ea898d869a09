"""Atom and RSS history feeds (Django's syndication framework): one entry per public update.

Entries are the public updates of incidents and the status-page events of maintenance
windows (announcement, start, ETA changes, completion, cancellation), newest first, the last
50. Entry ids are the update ids under the event's shortlink, so they never change. Titles are
plain text (HTML-escaped once in RSS, whose readers take titles as HTML); summaries are the update's Markdown as sanitised HTML (ersen_ops.core.markup).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.utils import feedgenerator
from django.utils.html import escape

from ersen_ops.core.markup import markdown_to_html
from statuspage import selectors
from statuspage.snapshot import page_url


class _Stable:
    """The feed's own date falls back to a fixed moment, never "now": same state, same bytes."""

    fallback: datetime | None = None

    def latest_post_date(self):
        if not self.items and self.fallback is not None:
            return self.fallback
        return super().latest_post_date()


class StableAtom(_Stable, feedgenerator.Atom1Feed):
    pass


class StableRss(_Stable, feedgenerator.Rss201rev2Feed):
    pass


class HistoryAtomFeed(Feed):
    feed_type = StableAtom

    def __init__(self, *, fallback: datetime | None = None):
        super().__init__()
        self.fallback = fallback

    def get_feed(self, obj, request):
        feed = super().get_feed(obj, request)
        feed.fallback = self.fallback
        return feed

    def title(self):
        return f"{settings.OPS_STATUS_PAGE_NAME} status: incidents and maintenance"

    def subtitle(self):
        return f"Every public update on {settings.OPS_STATUS_PAGE_NAME}'s incidents and maintenance windows."

    description = subtitle

    def link(self):
        return page_url() + "/"

    def feed_url(self):
        return page_url() + "/history.atom"

    def feed_guid(self):
        return page_url() + "/history"

    def author_name(self):
        return settings.OPS_STATUS_PAGE_NAME

    def items(self):
        return selectors.feed_updates()

    def item_title(self, item):
        update, event = item
        kind = "Maintenance" if event.kind == "maintenance" else "Incident"
        return f"{kind}: {event.name} — {update.label or update.status}"

    def item_description(self, item):
        # Atom <summary type="html"> and RSS <description> are HTML to a reader: sanitised, never the raw body.
        return markdown_to_html(item[0].body)

    def item_link(self, item):
        return item[1].shortlink

    def item_guid(self, item):
        update, event = item
        return f"{event.shortlink}#{update.id}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item[0].created_at

    def item_updateddate(self, item):
        return item[0].created_at

    def item_categories(self, item):
        return (item[1].kind,)


class HistoryRssFeed(HistoryAtomFeed):
    feed_type = StableRss

    # RSS has no text type: readers take <title> as HTML, so the plain title is HTML-escaped once
    # ("latency < 200 ms" reads as typed; a "<script>" in a title is text, never markup).
    def title(self):
        return escape(super().title())

    def item_title(self, item):
        return escape(super().item_title(item))

    def feed_url(self):
        return page_url() + "/history.rss"
