"""The checks in the admin: the list and a check's page at a constant number of queries, with 10,000 checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checks.models import Check, CheckResult
from ersen_ops.audit.models import AuditEvent
from tests.checks.conftest import T0, feed
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def bulk_checks(n: int, components) -> None:
    start = Check.objects.count()
    Check.objects.bulk_create(
        Check(name=f"bulk {start + i}", url=f"https://ersen.xyz/{i}", last_message="HTTP 200", state="up")
        for i in range(n)
    )
    through = Check.components.through
    ids = Check.objects.filter(name__startswith="bulk").values_list("pk", flat=True)
    through.objects.bulk_create(
        [through(check_id=pk, component_id=c.pk) for pk in ids for c in components], ignore_conflicts=True
    )


def list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:checks_check_changelist"))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_check_list_costs_the_same_queries_with_10_and_10000_checks(client, users):
    components = [ComponentFactory(name="Web"), ComponentFactory(name="API")]
    client.force_login(users["operator"])
    bulk_checks(10, components)
    few = list_queries(client)
    bulk_checks(9_990, components)
    assert Check.objects.count() == 10_000
    many = list_queries(client)
    assert many == few, (few, many)
    response = client.get(reverse("admin:checks_check_changelist"))
    assert b"Web, API" in response.content


def test_a_check_page_shows_its_last_results_and_a_latency_sparkline(client, users, make_check):
    check = make_check(failures_to_down=5)
    for i in range(80):
        feed(check, i % 10 != 0, at=T0 + timedelta(seconds=30 * i))
    client.force_login(users["operator"])
    url = reverse("admin:checks_check_change", args=[check.pk])
    with CaptureQueriesContext(connection) as first:
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and "<polyline" in body and "Latency of the last 60 results" in body
    assert "HTTP 502 from https://ersen.xyz/login after 1.2 s; expected 200" in body
    for i in range(80, 200):
        feed(check, True, at=T0 + timedelta(seconds=30 * i))
    with CaptureQueriesContext(connection) as second:
        client.get(url)
    assert len(second.captured_queries) == len(first.captured_queries)
    assert CheckResult.objects.filter(health_check=check).count() == 200


def test_a_viewer_cannot_change_a_check_nor_make_a_heartbeat_url(client, users, make_check):
    check = make_check(type="heartbeat", url="", heartbeat_period_seconds=3600)
    client.force_login(users["viewer"])
    url = reverse("admin:checks_check_heartbeat_secret", args=[check.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    client.force_login(users["operator"])
    assert client.get(url).status_code == 200
    check.refresh_from_db()
    assert check.heartbeat_secret_hash == ""  # GET changes nothing
    response = client.post(url)
    assert b"/checks/heartbeat/" in response.content
    check.refresh_from_db()
    assert len(check.heartbeat_secret_hash) == 64
    assert AuditEvent.objects.get(action="checks.heartbeat.secret_changed").actor_name == "operator"


def test_the_admin_form_creates_a_check_through_the_service(client, users):
    web = ComponentFactory(name="Web")
    client.force_login(users["operator"])
    response = client.post(reverse("admin:checks_check_add"), {
        "name": "login", "type": "http", "enabled": "on", "components": [web.pk], "interval_seconds": 30,
        "timeout_seconds": 5, "failures_to_down": 3, "successes_to_up": 2, "down_status": "major_outage",
        "url": "https://ersen.xyz/login", "method": "GET", "expected_status": 200, "max_redirects": 5,
        "cert_warning_days": 14, "heartbeat_source": "url", "heartbeat_grace_seconds": 300, "incident_level": "P2",
        "resolve_after_quiet_minutes": 10,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    check = Check.objects.get(name="login")
    assert list(check.components.all()) == [web]
    event = AuditEvent.objects.get(action="checks.check.created")
    assert event.actor_name == "operator" and event.data["after"]["components"] == ["Web"]


def test_an_interval_under_10_s_or_a_timeout_as_long_as_the_interval_is_refused(make_check):
    from ersen_ops.core.errors import DomainError

    with pytest.raises(DomainError) as exc:
        make_check(interval_seconds=5)
    assert "10" in str(exc.value.details)
    with pytest.raises(DomainError) as exc:
        make_check(interval_seconds=10, timeout_seconds=10)
    assert "The timeout (10 s) must be shorter than the interval (10 s)." in exc.value.details[0]


def test_the_public_page_costs_the_same_queries_with_10000_checks(client):
    from ersen_ops.status.services import status_version_bump

    components = [ComponentFactory(name="Web"), ComponentFactory(name="API")]

    def page_queries() -> int:
        status_version_bump()  # a fresh render, not the cached document
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    page_queries()  # warm-up (site settings, content types)
    before = page_queries()
    bulk_checks(10_000, components)
    Check.objects.filter(name__endswith="7").update(state="down")
    assert page_queries() == before
