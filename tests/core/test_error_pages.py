"""Friendly 403/404/500 pages inside the admin's look: no traceback, a way back, the 500 without the database."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.urls import reverse

from ersen_ops.core import views
from tests.access import Client
from tests.maintenance.factories import MaintenanceWindowFactory

pytestmark = pytest.mark.django_db


def test_unknown_admin_address_is_a_404_in_the_admin_look_with_a_way_back(client, users):
    client.force_login(users["operator"])
    response = client.get("/admin/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "404 — Not found" in html and "/admin/no/such/page/" in html
    assert 'href="/admin/"' in html and "Back to the control room" in html
    assert "admin/css/base.css" in html and "Traceback" not in html
    assert "Request id:" in html


def test_unknown_public_address_points_to_the_status_page(client):
    html = client.get("/no-such-page").content.decode()
    assert "See the current status" in html and 'href="/"' in html


def test_403_says_why_and_who_you_are(client, users):
    window = MaintenanceWindowFactory()
    client.force_login(users["viewer"])
    response = client.get(reverse("admin:maintenance_maintenancewindow_workflow", args=[window.pk, "schedule"]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role does not allow “Schedule” (it needs the permission maintenance.transition_maintenancewindow)." in html
    assert "You are signed in as viewer (Viewers)." in html
    assert "Back to the control room" in html and "Traceback" not in html


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "tests.core.boom_urls"
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    return client


def test_500_shows_no_traceback_and_the_request_id(failing_urls):
    response = failing_urls.get("/boom/", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 500
    html = response.content.decode()
    assert "500 — Something went wrong" in html and "req-12345678" in html
    assert "admin/css/base.css" in html  # the admin's look
    assert "Traceback" not in html and "secret-internal-detail" not in html and "RuntimeError" not in html


def test_500_page_renders_while_the_database_is_down(failing_urls):
    with mock.patch.object(BaseDatabaseWrapper, "ensure_connection", side_effect=OperationalError("db down")):
        response = failing_urls.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_500_view_itself_makes_no_query(rf, django_assert_num_queries):
    request = rf.get("/admin/")
    request.request_id = "abcdef123456"
    with django_assert_num_queries(0):
        response = views.server_error(request)
    assert response.status_code == 500 and b"abcdef123456" in response.content


def test_500_falls_back_to_plain_html_if_the_template_fails(rf):
    with mock.patch.object(views, "render_to_string", side_effect=ValueError("missing static manifest")):
        response = views.server_error(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"ValueError" not in response.content


def test_expired_form_says_nothing_was_done(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    window = MaintenanceWindowFactory()
    response = client.post(reverse("admin:maintenance_maintenancewindow_workflow", args=[window.pk, "schedule"]), {})
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form expired; nothing was done" in html and "reload the page" in html
    window.refresh_from_db()
    assert window.status == "draft"
