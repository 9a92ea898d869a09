"""The favicon: /favicon.ico answers without a login, and every page family links the static icons."""

import pytest

pytestmark = pytest.mark.django_db


def test_favicon_ico_answers_without_a_login_with_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age=86400" in response["Cache-Control"]


def test_favicon_ico_refuses_a_post(client):
    assert client.post("/favicon.ico").status_code == 405


@pytest.mark.parametrize("path", ["/admin/login/", "/"])
def test_admin_and_public_pages_link_the_icons(client, path):
    html = client.get(path, follow=True).content.decode()  # the admin login leads to the allauth login page
    assert 'rel="icon" href="/static/ops/favicon.svg" type="image/svg+xml"' in html
    assert 'rel="icon" href="/static/ops/favicon.ico"' in html
