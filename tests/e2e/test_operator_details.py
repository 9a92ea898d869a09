"""Smaller things an operator notices (issue 14, points 12–16), in the browser through the real admin."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_browser_finds_the_favicon_on_admin_and_public_pages(session_for, users):
    visitor = session_for("operator")
    for path in ("/admin/login/", "/"):
        page = visitor.goto(path)
        hrefs = page.eval_on_selector_all("link[rel=icon]", "links => links.map(l => l.href)")
        assert len(hrefs) == 2, path
        for href in hrefs:
            response = page.request.get(href)
            assert response.ok and response.headers["content-type"].startswith("image/"), href
    assert visitor.page.request.get(visitor.url("/favicon.ico")).headers["content-type"] == "image/x-icon"
