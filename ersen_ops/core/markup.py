"""The one way operator text (Markdown) becomes HTML for anything that leaves the portal.

Feeds (Atom summaries, RSS descriptions), the HTML part of ops and subscriber email, the public
status page and the maintenance announcement all call `markdown_to_html()`. Operators write
Markdown; raw HTML they type is shown as text (Markdown's HTML pass-through is switched off), and
the HTML Markdown produces goes through nh3 (the binding of Rust's `ammonia`) with an allow-list
of tags and attributes and only http, https and mailto links. Titles and other one-line labels are
plain text everywhere and never pass through here.
"""

from __future__ import annotations

import re

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    allowed_classes={"strong": {"heading"}},
    url_relative="deny",  # a relative link means nothing in a feed reader or a mailbox
    strip_comments=True,
)


def _markdown() -> markdown_lib.Markdown:
    md = markdown_lib.Markdown(extensions=["sane_lists", "nl2br", "fenced_code"], output_format="html")
    # Raw HTML in the source is text, not markup: "latency < 200 ms" and "<b>" read as typed.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


def sanitise_html(html: str) -> str:
    """Allow-listed HTML only (tags, attributes, link schemes); everything else is dropped."""
    return _cleaner.clean(html)


def markdown_to_html(text, *, inline_headings: bool = False) -> SafeString:
    """Operator Markdown → sanitised HTML. `inline_headings` turns headings into bold lines, for pages
    whose own outline (h1…h3) the text must not break."""
    html = _markdown().convert(str(text or ""))
    if inline_headings:
        html = _HEADING.sub(r'<p><strong class="heading">\2</strong></p>', html)
    return mark_safe(sanitise_html(html))  # noqa: S308 - nh3 output with an allow-list
