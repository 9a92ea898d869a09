"""The public status page offers the subscription (form on the page, link in the footer)."""

import pytest


@pytest.mark.django_db
def test_status_page_shows_the_subscribe_form_and_footer_link(client):
    html = client.get("/").content.decode()
    assert 'id="subscribe-heading"' in html
    assert 'action="/subscribe"' in html
    assert 'href="/subscribe">by email</a>' in html
    assert "csrfmiddlewaretoken" not in html  # the page is cached bytes shared by every visitor
