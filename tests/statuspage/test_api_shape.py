"""Golden-shape tests: every endpoint, every key, every type, every enumeration, against the reference."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from ersen_ops.status.models import Component
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from tests.status.factories import build_example, load_example, make_component, publish, utc

pytestmark = pytest.mark.django_db

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}

ENDPOINTS = {
    "/api/v2/summary.json": {"page", "components", "incidents", "scheduled_maintenances", "status"},
    "/api/v2/status.json": {"page", "status"},
    "/api/v2/components.json": {"page", "components"},
    "/api/v2/incidents.json": {"page", "incidents"},
    "/api/v2/incidents/unresolved.json": {"page", "incidents"},
    "/api/v2/scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "/api/v2/scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "/api/v2/scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}


# --- a checker per object, with the key sets taken from the reference example -----------------------------

EXAMPLE = load_example()
PAGE_KEYS = set(EXAMPLE["page"])
STATUS_KEYS = set(EXAMPLE["status"])
COMPONENT_KEYS = set(EXAMPLE["components"][0])
INCIDENT_KEYS = set(EXAMPLE["incidents"][0])
UPDATE_KEYS = set(EXAMPLE["incidents"][0]["incident_updates"][0])
AFFECTED_KEYS = set(EXAMPLE["incidents"][0]["incident_updates"][0]["affected_components"][0])
MAINTENANCE_KEYS = set(EXAMPLE["scheduled_maintenances"][0])


def is_iso(value) -> bool:
    return isinstance(value, str) and bool(ISO.match(value))


def check_page(page):
    assert set(page) == PAGE_KEYS
    assert all(isinstance(page[k], str) for k in ("id", "name", "url", "time_zone"))
    assert is_iso(page["updated_at"])


def check_status(status):
    assert set(status) == STATUS_KEYS
    assert status["indicator"] in INDICATORS
    assert isinstance(status["description"], str) and status["description"]


def check_component(c, seen):
    expected = COMPONENT_KEYS | ({"components"} if c["group"] else set())
    assert set(c) == expected, c
    assert isinstance(c["id"], str) and c["id"].startswith("cmp_")
    assert isinstance(c["name"], str)
    assert c["status"] in COMPONENT_STATUSES
    assert is_iso(c["created_at"]) and is_iso(c["updated_at"])
    assert isinstance(c["position"], int) and not isinstance(c["position"], bool)
    assert c["description"] is None or isinstance(c["description"], str)
    assert isinstance(c["showcase"], bool) and isinstance(c["group"], bool)
    assert isinstance(c["only_show_if_degraded"], bool)
    assert c["start_date"] is None or DATE.match(c["start_date"])
    assert c["group_id"] is None or isinstance(c["group_id"], str)
    assert c["page_id"] == "opsportal01"
    if c["group"]:
        assert isinstance(c["components"], list) and all(isinstance(k, str) for k in c["components"])
    seen["component_status"].add(c["status"])


def check_update(u, event_id, statuses, seen):
    assert set(u) == UPDATE_KEYS, u
    assert isinstance(u["id"], str) and u["id"][:4] in ("upd_", "iup_")
    assert u["status"] in statuses
    assert isinstance(u["body"], str)
    assert u["incident_id"] == event_id
    assert is_iso(u["created_at"]) and is_iso(u["updated_at"]) and is_iso(u["display_at"])
    assert u["deliver_notifications"] is True and u["custom_tweet"] is None and u["tweet_id"] is None
    if u["affected_components"] is not None:
        assert isinstance(u["affected_components"], list)
        for a in u["affected_components"]:
            assert set(a) == AFFECTED_KEYS
            assert a["old_status"] in COMPONENT_STATUSES and a["new_status"] in COMPONENT_STATUSES
            assert isinstance(a["code"], str) and isinstance(a["name"], str)
    else:
        seen["affected_null"] = True
    seen["update_status"].add(u["status"])


def check_event(e, *, maintenance: bool, seen):
    assert set(e) == (MAINTENANCE_KEYS if maintenance else INCIDENT_KEYS), e
    statuses = MAINTENANCE_STATUSES if maintenance else INCIDENT_STATUSES
    assert e["id"].startswith("mnt_" if maintenance else "inc_")
    assert isinstance(e["name"], str)
    assert e["status"] in statuses
    assert e["impact"] in INDICATORS
    for key in ("created_at", "updated_at", "started_at") + (
        ("scheduled_for", "scheduled_until") if maintenance else ()
    ):
        assert is_iso(e[key]), (key, e[key])
    for key in ("monitoring_at", "resolved_at"):
        assert e[key] is None or is_iso(e[key])
    assert e["shortlink"] == f"http://127.0.0.1:8000/incidents/{e['id']}"
    assert e["page_id"] == "opsportal01"
    assert isinstance(e["incident_updates"], list) and e["incident_updates"]
    times = [u["created_at"] for u in e["incident_updates"]]
    assert times == sorted(times, reverse=True), "updates newest first"
    for u in e["incident_updates"]:
        check_update(u, e["id"], statuses, seen)
    for c in e["components"]:
        check_component(c, seen)
    seen["maintenance_status" if maintenance else "incident_status"].add(e["status"])
    seen["impact"].add(e["impact"])


def check_document(url, data, seen):
    assert set(data) == ENDPOINTS[url]
    check_page(data["page"])
    if "status" in data:
        check_status(data["status"])
    for c in data.get("components", []):
        check_component(c, seen)
    for e in data.get("incidents", []):
        check_event(e, maintenance=False, seen=seen)
    for e in data.get("scheduled_maintenances", []):
        check_event(e, maintenance=True, seen=seen)
    for key in ("components", "incidents", "scheduled_maintenances"):
        if key in data:
            assert isinstance(data[key], list)


def new_seen():
    return {
        "component_status": set(),
        "incident_status": set(),
        "maintenance_status": set(),
        "update_status": set(),
        "impact": set(),
        "affected_null": False,
    }


# --- the fixed data sets --------------------------------------------------------------------------------


def build_rich():
    """Every state the API can express: component states and groups, each incident and maintenance status."""
    rows = build_example()
    at = utc(2025, 1, 10, 9, 0)
    group = make_component(at=at, public_id="cmp_grp0001", name="Payments", is_group=True, position=4)
    make_component(
        at=at, public_id="cmp_pay0001", name="Card payments", group=group, position=5, status="partial_outage"
    )
    make_component(at=at, public_id="cmp_pay0002", name="Invoices", group=group, position=6, status="major_outage")
    make_component(at=at, public_id="cmp_hid0001", name="Hidden worker", public=False, position=7)
    make_component(at=at, public_id="cmp_deg0001", name="Widgets", position=8, only_show_if_degraded=True)

    def incident(public_id, title, level, updates, resolved_at=None, components=()):
        obj = Incident.objects.create(
            public_id=public_id,
            title=title,
            level=level,
            status=updates[-1][0],
            opened_at=updates[0][2] - timedelta(minutes=1),
            response_due_at=updates[0][2] + timedelta(hours=1),
            resolved_at=resolved_at,
        )
        for component, impact in components:
            IncidentComponent.objects.create(incident=obj, component=component, impact=impact)
        for status, body, when in updates:
            IncidentUpdate.objects.create(incident=obj, status=status, body=body, created_at=when, public=True)
        return obj

    t = utc(2026, 5, 3, 8, 0)
    incident(
        "inc_identif01",
        "Card declines",
        "P2",
        [("identified", "Root cause found.", t)],
        components=[(Component.objects.get(public_id="cmp_pay0001"), "partial_outage")],
    )
    incident(
        "inc_monitor01",
        "Slow invoices",
        "P1",
        [("investigating", "Looking.", t), ("monitoring", "Fix deployed.", t + timedelta(minutes=30))],
    )
    incident(
        "inc_resolved01",
        "Login errors",
        "P4",
        [("investigating", "Looking.", t - timedelta(days=1)), ("resolved", "Fixed.", t - timedelta(hours=20))],
        resolved_at=t - timedelta(hours=20),
        components=[(rows["web"], "major_outage")],
    )

    incident(
        "inc_cosmet01",
        "Typo on the pricing page",
        "P4",
        [
            ("investigating", "Noted.", t - timedelta(days=2)),
            ("resolved", "Fixed the typo.", t - timedelta(days=2) + timedelta(hours=1)),
        ],
        resolved_at=t - timedelta(days=2) + timedelta(hours=1),
    )

    def window(public_id, title, status, start, **extra):
        w = MaintenanceWindow.objects.create(
            public_id=public_id,
            title=title,
            type="routine",
            status=status,
            planned_start=start,
            planned_end=start + timedelta(hours=1),
            eta=start + timedelta(hours=1),
            announced_at=start - timedelta(days=2),
            announcement=f"## Scheduled Maintenance\n\n**When**: {title}",
            impact="x",
            reason="y",
            **extra,
        )
        w.components.set([rows["web"]])
        publish(w, event="maintenance.scheduled", body=w.announcement, at=start - timedelta(days=2))
        return w

    future = utc(2026, 6, 2, 10, 0)
    window("mnt_sched0001", "Upcoming deploy", "scheduled", future)
    done = window(
        "mnt_verif0001",
        "Yesterday's patch",
        "completed",
        utc(2026, 5, 3, 10, 0),
        actual_start=utc(2026, 5, 3, 10, 0),
        actual_end=utc(2026, 5, 3, 10, 40),
    )
    publish(done, event="maintenance.started", body="Started.", at=utc(2026, 5, 3, 10, 0))
    publish(done, event="maintenance.completed", body="Done.", at=utc(2026, 5, 3, 10, 40))
    closed = window(
        "mnt_close0001",
        "Last week's patch",
        "completed",
        utc(2026, 4, 28, 10, 0),
        actual_start=utc(2026, 4, 28, 10, 0),
        actual_end=utc(2026, 4, 28, 10, 30),
        closed_at=utc(2026, 4, 28, 11, 0),
    )
    publish(closed, event="maintenance.completed", body="Done.", at=utc(2026, 4, 28, 10, 30))
    cancelled = window(
        "mnt_cancl0001", "Cancelled upgrade", "cancelled", utc(2026, 5, 5, 10, 0), cancellation_reason="Vendor delay."
    )
    publish(cancelled, event="maintenance.cancelled", body="Cancelled: vendor delay.", at=utc(2026, 5, 3, 12, 0))
    MaintenanceWindow.objects.create(
        public_id="mnt_draft0001",
        title="Draft idea",
        type="routine",
        status="draft",
        planned_start=future,
        planned_end=future + timedelta(hours=1),
        impact="x",
        reason="y",
    )
    return rows


# --- tests ---------------------------------------------------------------------------------------------------


def test_summary_matches_the_reference_example_field_by_field(client):
    build_example()
    ours = json.loads(client.get("/api/v2/summary.json").content)
    expected = load_example()
    # Differences by design, each explained:
    # - page.updated_at is the latest public change (10:02), not the moment the example was rendered;
    expected["page"]["updated_at"] = "2026-05-04T10:02:00.000Z"
    # - a component's updated_at is when its status last changed: the incident opened at 10:01:30
    #   (its impact applies from then), not when the first update was posted;
    for doc in (expected["components"][0], expected["incidents"][0]["components"][0]):
        doc["updated_at"] = "2026-05-04T10:01:30.000Z"
    # - the announcement update's id is derived from the window's id (it exists before its post is sent).
    expected["scheduled_maintenances"][0]["incident_updates"][1]["id"] = "upd_0000001a"
    assert ours == expected
    # Same key order as the reference, too (some clients print documents as they come).
    assert list(ours) == list(expected)
    assert list(ours["components"][0]) == list(expected["components"][0])
    assert list(ours["scheduled_maintenances"][0]) == list(expected["scheduled_maintenances"][0])


@pytest.mark.parametrize("url", sorted(ENDPOINTS))
def test_every_endpoint_has_every_key_with_the_right_type(client, url):
    build_rich()
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    check_document(url, json.loads(response.content), new_seen())


def test_every_enumeration_value_the_data_set_can_produce_is_exercised(client):
    build_rich()
    seen = new_seen()
    for url in ENDPOINTS:
        check_document(url, json.loads(client.get(url).content), seen)
    assert seen["component_status"] == COMPONENT_STATUSES
    assert seen["incident_status"] == {"investigating", "identified", "monitoring", "resolved"}
    # "verifying" is a valid Statuspage value we never produce: a completed window is completed publicly, whatever
    # its internal "after" checklist says (issue 14 point 4).
    assert seen["maintenance_status"] == MAINTENANCE_STATUSES - {"verifying"}
    assert seen["impact"] == {"none", "minor", "major", "critical", "maintenance"}
    assert seen["affected_null"] is True  # an incident without components: affected_components is null


def test_empty_page_gives_empty_lists_not_missing_keys(client):
    for url, keys in ENDPOINTS.items():
        data = json.loads(client.get(url).content)
        assert set(data) == keys
        for key in ("components", "incidents", "scheduled_maintenances"):
            if key in data:
                assert data[key] == []
        if "status" in data:
            assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
        assert is_iso(data["page"]["updated_at"])


def test_endpoints_select_what_the_reference_says(client):
    build_rich()

    def ids(url, key):
        return [e["id"] for e in json.loads(client.get(url).content)[key]]

    # Newest first; the resolved one only in incidents.json.
    assert ids("/api/v2/incidents/unresolved.json", "incidents") == ["inc_0000001", "inc_monitor01", "inc_identif01"]
    assert ids("/api/v2/incidents.json", "incidents") == [
        "inc_0000001",
        "inc_monitor01",
        "inc_identif01",
        "inc_resolved01",
        "inc_cosmet01",
    ]
    # Soonest first.
    assert ids("/api/v2/scheduled-maintenances/upcoming.json", "scheduled_maintenances") == ["mnt_sched0001"]
    # A completed window is not active, even while its internal "after" checklist is open.
    assert ids("/api/v2/scheduled-maintenances/active.json", "scheduled_maintenances") == ["mnt_0000001"]
    everything = ids("/api/v2/scheduled-maintenances.json", "scheduled_maintenances")
    assert set(everything) == {"mnt_0000001", "mnt_sched0001", "mnt_verif0001", "mnt_close0001", "mnt_cancl0001"}
    assert "mnt_draft0001" not in everything  # drafts never appear
    summary = ids("/api/v2/summary.json", "scheduled_maintenances")
    assert "mnt_cancl0001" not in summary and "mnt_close0001" not in summary
    assert set(summary) == {"mnt_0000001", "mnt_sched0001"}


def test_groups_list_their_public_children_and_hidden_components_are_absent(client):
    build_rich()
    components = {c["id"]: c for c in json.loads(client.get("/api/v2/components.json").content)["components"]}
    assert "cmp_hid0001" not in components
    group = components["cmp_grp0001"]
    assert group["group"] is True and group["components"] == ["cmp_pay0001", "cmp_pay0002"]
    assert group["status"] == "major_outage"  # worst of its children
    assert components["cmp_pay0001"]["group_id"] == "cmp_grp0001"
    assert "components" not in components["cmp_pay0001"]


def test_hiding_a_group_hides_its_children(client):
    build_rich()
    Component.objects.filter(public_id="cmp_grp0001").update(public=False)
    from ersen_ops.status.services import status_version_bump

    status_version_bump()
    ids = {c["id"] for c in json.loads(client.get("/api/v2/components.json").content)["components"]}
    assert ids.isdisjoint({"cmp_grp0001", "cmp_pay0001", "cmp_pay0002"})
    assert "cmp_api0001" in ids


def test_cancelled_window_is_completed_with_its_cancellation_as_latest_update(client):
    build_rich()
    data = json.loads(client.get("/api/v2/scheduled-maintenances.json").content)
    cancelled = next(m for m in data["scheduled_maintenances"] if m["id"] == "mnt_cancl0001")
    assert cancelled["status"] == "completed"
    assert cancelled["incident_updates"][0]["body"] == "Cancelled: vendor delay."
    assert cancelled["resolved_at"] == "2026-05-03T12:00:00.000Z"


def test_a_completed_window_is_completed_publicly_whatever_its_after_checklist_says(client):
    build_rich()
    data = json.loads(client.get("/api/v2/scheduled-maintenances.json").content)
    by_id = {m["id"]: m for m in data["scheduled_maintenances"]}
    # "after" checklist still open (internal follow-up): completed, resolved when the work ended.
    assert by_id["mnt_verif0001"]["status"] == "completed"
    assert by_id["mnt_verif0001"]["resolved_at"] == "2026-05-03T10:40:00.000Z"
    # Closed an hour after the work ended: still resolved at the end of the work, not at the internal close.
    assert by_id["mnt_close0001"]["status"] == "completed"
    assert by_id["mnt_close0001"]["resolved_at"] == "2026-04-28T10:30:00.000Z"
