"""The admin's login goes through allauth: redirect with `next`, login, logout, no signup, the admin's look."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.factories import UserFactory


def _location(response) -> tuple[str, dict]:
    url = urlparse(response["Location"])
    return url.path, parse_qs(url.query)


def test_admin_login_page_redirects_to_allauth_keeping_next(client, db):
    response = client.get("/admin/login/?next=/admin/incidents/incident/")
    assert response.status_code == 302
    path, query = _location(response)
    assert path == "/accounts/login/" and query["next"] == ["/admin/incidents/incident/"]


def test_anonymous_admin_request_ends_on_the_allauth_login_with_next(client, db):
    response = client.get("/admin/maintenance/maintenancewindow/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert "next=/admin/maintenance/maintenancewindow/" in response.redirect_chain[-1][0].replace("%2F", "/")
    html = response.content.decode()
    assert 'id="login-form"' in html and "Ersen Ops" in html  # the admin's login look (admin/base_site.html)


def test_password_login_leads_to_next(client, db):
    UserFactory(username="viewer-login")
    response = client.post(
        "/accounts/login/", {"login": "viewer-login", "password": "pw", "next": "/admin/audit/auditevent/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/audit/auditevent/"
    assert client.get("/admin/audit/auditevent/").status_code in (200, 403)  # logged in (permissions aside)


def test_wrong_password_is_refused_on_the_login_page(client, db):
    UserFactory(username="someone")
    response = client.post("/accounts/login/", {"login": "someone", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "not correct" in response.content.decode()


def test_signup_is_closed_and_not_offered(client, db):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200 and "closed" in response.content.decode().lower()
    response = client.post("/accounts/signup/", {"username": "intruder", "password1": "x" * 20, "password2": "x" * 20})
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="intruder").exists()
    assert "sign up" not in client.get("/accounts/login/").content.decode().lower()


def test_logout_from_the_admin_header_ends_the_session(client, db):
    user = UserFactory(username="viewer-logout")
    client.post("/accounts/login/", {"login": user.username, "password": "pw"})
    html = client.get("/accounts/").content.decode()
    assert 'action="/accounts/logout/"' in html and 'href="/accounts/"' in html  # header: My account, Log out
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_non_staff_user_gets_no_admin(client, db):
    UserFactory(username="customer", is_staff=False)
    client.post("/accounts/login/", {"login": "customer", "password": "pw"})
    assert client.get("/admin/login/").status_code == 403
