"""The includable "Subscribe" box for the cached public status page."""

from __future__ import annotations

from django.template.loader import render_to_string


def test_the_subscribe_box_is_a_get_form_without_any_per_visitor_content():
    html = render_to_string("subscribers/subscribe_form.html")
    assert '<form method="get" action="/subscribe">' in html
    assert 'name="email"' in html
    # The status page is served from bytes cached for every visitor: no CSRF token, no session data.
    assert "csrf" not in html.lower()
    assert render_to_string("subscribers/subscribe_form.html") == html
