"""Alert intake fixtures: an integration per source with its token, rules, payload builders, a window in progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting import services
from alerting.choices import Source
from alerting.models import AlertRule
from maintenance import services as maintenance
from maintenance.choices import MaintenanceType
from tests.factories import ComponentFactory
from tests.maintenance.conftest import ensure_checklist_templates
from tests.maintenance.factories import MaintenanceWindowFactory

NOW = datetime(2027, 1, 13, 20, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _checklist_templates(request):
    if (
        "db" in request.fixturenames
        or "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
    ):
        request.getfixturevalue(
            "transactional_db"
            if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
            else "db"
        )
        ensure_checklist_templates()


@pytest.fixture
def components(db):
    return {"api": ComponentFactory(name="API"), "db": ComponentFactory(name="Database")}


@pytest.fixture
def integration(users):
    integration, token = services.integration_create(
        actor=users["admin"], name="prometheus", source=Source.ALERTMANAGER
    )
    integration.token = token
    return integration


@pytest.fixture
def grafana(users):
    integration, token = services.integration_create(actor=users["admin"], name="grafana", source=Source.GRAFANA)
    integration.token = token
    return integration


@pytest.fixture
def rules(users, components):
    """severity=critical on the API → P1 major outage; anything with service=api → P2 partial; database → P3."""
    return {
        "critical": services.rule_save(
            actor=users["admin"],
            rule=AlertRule(
                name="API down",
                position=1,
                matchers={"service": "api", "severity": "critical"},
                level="P1",
                impact="major_outage",
            ),
            components=[components["api"]],
        ),
        "api": services.rule_save(
            actor=users["admin"],
            rule=AlertRule(name="API", position=2, matchers={"service": "api"}, level="P2", impact="partial_outage"),
            components=[components["api"]],
        ),
        "db": services.rule_save(
            actor=users["admin"],
            rule=AlertRule(
                name="Database", position=3, matchers={"service": "db"}, level="P3", impact="degraded_performance"
            ),
            components=[components["db"]],
        ),
    }


def am_alert(name, fingerprint, *, status="firing", service="api", severity="warning", starts=NOW, **labels):
    return {
        "status": status,
        "labels": {"alertname": name, "service": service, "severity": severity, **labels},
        "annotations": {"summary": f"{name} on {service}", "description": "Error rate above 5% for 5 minutes."},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else (starts + timedelta(minutes=10)).isoformat(),
        "generatorURL": "http://prometheus.internal:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def am_payload(*alerts, group_key='{}:{alertname="HighErrorRate"}'):
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "ersen-ops",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.internal:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def window_in_progress(users, components):
    """An emergency window in progress on the API (started at once with a justification)."""

    def make(component="api", at=NOW):
        window = MaintenanceWindowFactory(
            type=MaintenanceType.EMERGENCY,
            planned_start=at - timedelta(minutes=5),
            planned_end=at + timedelta(hours=1),
            owner=users["operator"],
            components=[components[component]],
        )
        maintenance.window_schedule(actor=users["operator"], window=window, now=at - timedelta(minutes=6))
        maintenance.window_start(
            actor=users["operator"], window=window, now=at - timedelta(minutes=5), justification="Hotfix"
        )
        return window

    return make
