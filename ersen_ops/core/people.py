"""How a person is named on a page: their name, linked to something the viewer may see about them, or to nothing.

Never to the user admin (403 for everyone but superusers). Apps above this one register the pages that list a
person's work (their windows, their incidents) with `register_person_page()`; `person_link()` and the
`{% person %}` template tag are the one helper every page uses where a person is named.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join


@dataclass(frozen=True)
class PersonPage:
    label: str  # "windows", "incidents": what the page lists about the person
    url_name: str  # a changelist that filters by ?<param>=<user id>
    permission: str  # the viewer needs it to see the page
    param: str = "person"
    title: str = ""  # hover text; "{name}" is replaced


_PAGES: list[PersonPage] = []


def register_person_page(page: PersonPage) -> None:
    if page not in _PAGES:
        _PAGES.append(page)


def person_pages(user, viewer) -> list[tuple[PersonPage, str]]:
    """The registered pages about `user` that `viewer` may see, with their URLs."""
    if user is None or viewer is None or not getattr(viewer, "is_authenticated", False):
        return []
    found = []
    for page in _PAGES:
        if not viewer.has_perm(page.permission):
            continue
        try:
            url = reverse(page.url_name)
        except NoReverseMatch:  # the app is not installed here
            continue
        found.append((page, f"{url}?{page.param}={user.pk}"))
    return found


def person_link(user, viewer, *, empty: str = "—") -> str:
    """'operator' linked to their windows (and a small link to their incidents), or plain text when the viewer
    may see none of those pages."""
    if user is None:
        return empty
    name = user.get_username()
    pages = person_pages(user, viewer)
    if not pages:
        return format_html('<span class="person">{}</span>', name)
    (first, first_url), rest = pages[0], pages[1:]
    link = format_html(
        '<a class="person" href="{}" title="{}">{}</a>',
        first_url,
        (first.title or "{name}'s " + first.label).replace("{name}", name),
        name,
    )
    if not rest:
        return link
    more = format_html_join(" · ", '<a class="person-more" href="{}">{}</a>', ((url, page.label) for page, url in rest))
    return format_html(
        '{} <small class="person-pages">({} · {})</small>',
        link,
        format_html('<a class="person-more" href="{}">{}</a>', first_url, first.label),
        more,
    )
