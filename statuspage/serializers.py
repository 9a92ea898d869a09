"""Statuspage v2 wire format: pure functions from the public snapshot to JSON-ready dicts.

Key order, names, types and enumerations follow `shared/reference/statuspage-api-v2.md` and its
`summary.json` example exactly. Timestamps are UTC ISO-8601 with millisecond precision and a `Z`
offset (`2026-05-04T10:15:00.000Z`); dates are `YYYY-MM-DD`; empty lists are `[]`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from django.conf import settings

from statuspage.snapshot import PublicComponent, PublicEvent, PublicUpdate, StatusSnapshot


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_date(day: date | None) -> str | None:
    return day.isoformat() if day else None


def page(updated_at: datetime) -> dict:
    return {
        "id": settings.OPS_STATUS_PAGE_ID,
        "name": settings.OPS_STATUS_PAGE_NAME,
        "url": settings.OPS_STATUS_PAGE_URL.rstrip("/"),
        "time_zone": settings.OPS_STATUS_PAGE_TIME_ZONE,
        "updated_at": iso(updated_at),
    }


def status(snapshot: StatusSnapshot) -> dict:
    return {"indicator": snapshot.indicator, "description": snapshot.description}


def component(c: PublicComponent) -> dict:
    data = {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "position": c.position,
        "description": c.description,
        "showcase": c.showcase,
        "start_date": iso_date(c.start_date),
        "group_id": c.group_id,
        "page_id": settings.OPS_STATUS_PAGE_ID,
        "group": c.group,
        "only_show_if_degraded": c.only_show_if_degraded,
    }
    if c.group:
        data["components"] = list(c.children)
    return data


def update(u: PublicUpdate) -> dict:
    return {
        "id": u.id,
        "status": u.status,
        "body": u.body,
        "incident_id": u.event_id,
        "created_at": iso(u.created_at),
        "updated_at": iso(u.created_at),
        "display_at": iso(u.created_at),
        "affected_components": None
        if u.affected_components is None
        else [
            {"code": a.code, "name": a.name, "old_status": a.old_status, "new_status": a.new_status}
            for a in u.affected_components
        ],
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident(e: PublicEvent) -> dict:
    data = {
        "id": e.id,
        "name": e.name,
        "status": e.status,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
        "monitoring_at": iso(e.monitoring_at),
        "resolved_at": iso(e.resolved_at),
        "impact": e.impact,
        "shortlink": e.shortlink,
        "started_at": iso(e.started_at),
        "page_id": settings.OPS_STATUS_PAGE_ID,
        "incident_updates": [update(u) for u in e.updates],
        "components": [component(c) for c in e.components],
    }
    if e.kind == "maintenance":
        data["scheduled_for"] = iso(e.scheduled_for)
        data["scheduled_until"] = iso(e.scheduled_until)
    return data


scheduled_maintenance = incident


# --- documents -------------------------------------------------------------------------------------


def summary_document(snapshot: StatusSnapshot) -> dict:
    return {
        "page": page(snapshot.updated_at),
        "components": [component(c) for c in snapshot.components],
        "incidents": [incident(e) for e in snapshot.incidents],
        "scheduled_maintenances": [scheduled_maintenance(e) for e in snapshot.maintenances],
        "status": status(snapshot),
    }


def status_document(snapshot: StatusSnapshot) -> dict:
    return {"page": page(snapshot.updated_at), "status": status(snapshot)}


def components_document(snapshot: StatusSnapshot) -> dict:
    return {"page": page(snapshot.updated_at), "components": [component(c) for c in snapshot.components]}


def incidents_document(snapshot: StatusSnapshot, incidents: list[PublicEvent]) -> dict:
    return {"page": page(snapshot.updated_at), "incidents": [incident(e) for e in incidents]}


def maintenances_document(snapshot: StatusSnapshot, maintenances: list[PublicEvent]) -> dict:
    return {
        "page": page(snapshot.updated_at),
        "scheduled_maintenances": [scheduled_maintenance(e) for e in maintenances],
    }


def to_bytes(document: dict) -> bytes:
    """Compact, deterministic JSON (same state → same bytes → same ETag in every process)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
