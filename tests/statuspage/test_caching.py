"""Caching and HTTP behaviour: invalidation on every change, ETag/Last-Modified/304, CORS, bad input."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils.http import http_date

from ersen_ops.status.models import Component, StatusVersion
from incidents.models import IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from statuspage import caching
from tests.status.factories import build_example, make_component, publish, utc

pytestmark = pytest.mark.django_db

SUMMARY = "/api/v2/summary.json"
ORIGIN = {"HTTP_ORIGIN": "https://widgets.example.com"}
PUBLIC_URLS = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
    "/",
    "/status/",
    "/incidents/inc_0000001",
    "/incidents/mnt_0000001",
    "/history.atom",
    "/history.rss",
    "/maintenance.ics",
    "/api/uptime.json",
]


def version() -> int:
    return StatusVersion.objects.get().version


# --- headers and conditional requests ----------------------------------------------------------------------


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_every_public_document_has_validators_and_answers_304(client, example, url):
    first = client.get(url)
    assert first.status_code == 200
    assert first["Cache-Control"] == "public, max-age=30"
    assert first["ETag"].startswith('"') and first["Last-Modified"]
    assert int(first["Content-Length"]) == len(first.content)
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "public, max-age=30"
    by_date = client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert by_date.status_code == 304


def test_cache_seconds_are_configurable(client, example, settings):
    settings.OPS_STATUS_CACHE_SECONDS = 120
    assert client.get(SUMMARY)["Cache-Control"] == "public, max-age=120"


def test_older_if_modified_since_gets_the_document(client, example):
    first = client.get(SUMMARY)
    older = http_date(1_000_000_000)
    assert client.get(SUMMARY, HTTP_IF_MODIFIED_SINCE=older).status_code == 200
    assert first.status_code == 200


@pytest.mark.parametrize("garbage", ["yesterday", "Mon, 99 Foo 2026 25:61:00 GMT", "", "0", "Mon, 04 May 2026"])
def test_malformed_if_modified_since_is_ignored(client, example, garbage):
    response = client.get(SUMMARY, HTTP_IF_MODIFIED_SINCE=garbage)
    assert response.status_code == 200 and json.loads(response.content)["page"]


def test_if_none_match_wins_over_if_modified_since(client, example):
    first = client.get(SUMMARY)
    response = client.get(SUMMARY, HTTP_IF_NONE_MATCH='"stale"', HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert response.status_code == 200
    assert client.get(SUMMARY, HTTP_IF_NONE_MATCH=f'"x", {first["ETag"]}').status_code == 304
    assert client.get(SUMMARY, HTTP_IF_NONE_MATCH="*").status_code == 304


def test_head_sends_headers_without_a_body(client, example):
    get = client.get(SUMMARY)
    head = client.head(SUMMARY)
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == get["Content-Length"] and head["ETag"] == get["ETag"]


# --- invalidation -------------------------------------------------------------------------------------------


def _change_component(rows):
    rows["web"].status = "major_outage"
    rows["web"].save()


def _add_component(rows):
    make_component(at=utc(2026, 5, 4, 12), name="Search", position=9)


def _hide_component(rows):
    rows["web"].public = False
    rows["web"].save()


def _change_window(rows):
    rows["window"].eta = rows["window"].eta + timedelta(minutes=30)
    rows["window"].save()


def _window_components(rows):
    rows["window"].components.add(rows["web"])


def _window_components_removed(rows):
    rows["window"].components.remove(rows["db"])


def _change_incident(rows):
    rows["incident"].title = "Elevated API latency in Europe"
    rows["incident"].save()


def _add_impact(rows):
    IncidentComponent.objects.create(incident=rows["incident"], component=rows["web"], impact="partial_outage")


def _remove_impact(rows):
    IncidentComponent.objects.filter(incident=rows["incident"]).delete()


def _add_update(rows):
    IncidentUpdate.objects.create(
        incident=rows["incident"], status="identified", body="Found it.", created_at=utc(2026, 5, 4, 10, 20)
    )


def _publish_post(rows):
    publish(
        rows["window"], event="maintenance.eta_changed", body="Running 30 minutes long.", at=utc(2026, 5, 4, 10, 50)
    )


def _delete_window(rows):
    MaintenanceWindow.objects.filter(pk=rows["window"].pk).first().delete()


CHANGES = [
    _change_component,
    _add_component,
    _hide_component,
    _change_window,
    _window_components,
    _window_components_removed,
    _change_incident,
    _add_impact,
    _remove_impact,
    _add_update,
    _publish_post,
    _delete_window,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_any_change_is_served_by_the_very_next_request(client, example, change):
    first = client.get(SUMMARY)
    assert client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    before = version()
    change(example)
    assert version() > before
    after = client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != first["ETag"] and after.content != first.content


def test_no_change_means_same_bytes_and_one_query(client, example, django_assert_num_queries):
    first = client.get(SUMMARY)
    with django_assert_num_queries(1):  # the version check, nothing else
        second = client.get(SUMMARY)
    assert second.content == first.content and second["ETag"] == first["ETag"]


def test_change_without_public_effect_keeps_the_etag(client, example):
    """Internal edits bump the version (the cache re-renders) but the bytes, hence the ETag, stay."""
    first = client.get(SUMMARY)
    incident = example["incident"]
    incident.internal_notes = "Pool size was 5; now 50."
    incident.save()
    again = client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_rolled_back_change_does_not_move_the_version(example):
    from django.db import transaction

    before = version()
    with pytest.raises(RuntimeError), transaction.atomic():
        example["web"].status = "major_outage"
        example["web"].save()
        raise RuntimeError("abort")
    assert version() == before


def test_each_document_is_cached_separately_and_bounded():
    cache = caching.RenderedCache(max_entries=2)
    for n in range(3):
        cache.put(("doc", n), caching.render_entry(b"x", "text/plain", 0))
    assert len(cache) == 2 and cache.get(("doc", 0)) is None


def test_the_page_changes_with_the_day_even_without_a_change(client, example):
    import time_machine

    with time_machine.travel(utc(2026, 5, 4, 12), tick=False):
        today = client.get("/")
        assert b"Monday, May 4, 2026" in today.content
    with time_machine.travel(utc(2026, 5, 5, 12), tick=False):
        tomorrow = client.get("/", HTTP_IF_NONE_MATCH=today["ETag"])
        assert tomorrow.status_code == 200 and b"Tuesday, May 5, 2026" in tomorrow.content


# --- CORS -------------------------------------------------------------------------------------------------------


def test_cors_on_200_and_on_304(client, example):
    first = client.get(SUMMARY, **ORIGIN)
    assert first.status_code == 200
    assert first["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in first
    not_modified = client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"], **ORIGIN)
    assert not_modified.status_code == 304
    assert not_modified["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in not_modified


def test_cors_preflight_allows_only_reads(client):
    response = client.options(SUMMARY, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", **ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert set(m.strip() for m in response["Access-Control-Allow-Methods"].split(",")) == {"GET", "HEAD", "OPTIONS"}
    assert "Access-Control-Allow-Credentials" not in response


def test_cors_only_on_the_api(client, example):
    assert "Access-Control-Allow-Origin" not in client.get("/", **ORIGIN)


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v2/nothing.json",
        "/api/v2/summary.json/",
        "/api/v2/summary",
        "/api/v2/",
        "/api/v2",
        "/api/v2/incidents/x.json",
    ],
)
def test_unknown_api_paths_give_a_json_404(client, url):
    response = client.get(url, **ORIGIN)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"] == "not_found"
    if url.startswith("/api/v2/"):  # the CORS scope is ^/api/v2/.*$
        assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", [SUMMARY, "/api/v2/unknown.json", "/", "/history.atom", "/maintenance.ics"])
def test_other_methods_get_405(client, method, url):
    before = StatusVersion.objects.get().version
    response = getattr(client, method)(url, data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    if url.startswith("/api/"):
        assert json.loads(response.content)["error"] == "method_not_allowed"
    assert StatusVersion.objects.get().version == before


def test_plain_options_lists_the_allowed_methods(client):
    response = client.options(SUMMARY)
    assert response.status_code == 200 and response["Allow"] == "GET, HEAD, OPTIONS"


def test_unknown_or_private_event_pages_are_404(client, example):
    MaintenanceWindow.objects.create(
        public_id="mnt_draft00001",
        title="Draft",
        planned_start=utc(2026, 6, 1),
        planned_end=utc(2026, 6, 1, 1),
        impact="x",
        reason="y",
    )
    for url in ("/incidents/inc_doesnotexist", "/incidents/mnt_draft00001", "/incidents/upd_0000001"):
        assert client.get(url).status_code == 404


# --- across connections (gunicorn workers are separate processes with separate connections) ----------------------


def test_change_committed_by_another_connection_is_served_next(client, transactional_postgres):
    rows = build_example()
    first = client.get(SUMMARY)
    assert json.loads(first.content)["components"][2]["status"] == "operational"

    def other_worker():
        try:
            component = Component.objects.get(pk=rows["web"].pk)
            component.status = "partial_outage"
            component.save()
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    thread.join()
    after = client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200
    assert json.loads(after.content)["components"][2]["status"] == "partial_outage"


def test_version_check_survives_a_dead_persistent_connection(transactional_postgres):
    """The version lookup doubles as the connection health check: a connection the server dropped
    between two requests is replaced, not turned into a 500."""
    import psycopg

    from ersen_ops.status import selectors

    build_example()
    first = selectors.status_version()
    assert connection.health_check_enabled
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=params["dbname"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.close_if_unusable_or_obsolete()  # what Django does when the next request starts
    assert selectors.status_version() == first
    assert connection.connection.info.backend_pid != pid


def test_version_lookup_is_a_prepared_statement_that_survives_deallocation(transactional_postgres):
    from ersen_ops.status import selectors
    from ersen_ops.status.services import status_version_bump

    build_example()
    assert not connection.queries_logged  # production path: straight through libpq
    first = selectors.status_version()
    prepared = "SELECT count(*) FROM pg_prepared_statements WHERE name = 'ersen_status_version'"
    assert connection.connection.execute(prepared).fetchone()[0] == 1
    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")  # e.g. a pool reset
    assert selectors.status_version() == first
    assert connection.connection.execute(prepared).fetchone()[0] == 1
    status_version_bump()
    assert selectors.status_version()[0] == first[0] + 1
