"""Health endpoints: no login, nothing sensitive, 200/503."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from ersen_ops.core.services import worker_heartbeat

pytestmark = pytest.mark.django_db


def test_healthz_says_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_unavailable_without_a_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "no heartbeat seen"}


def test_readyz_is_ready_with_a_fresh_heartbeat(client):
    worker_heartbeat(name="cluster")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}


def test_readyz_reports_a_stale_heartbeat(client):
    with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=False):
        worker_heartbeat(name="cluster")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"].startswith("last heartbeat 6")


def test_admin_needs_a_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Traceback" not in response.content
