"""End to end with a real Prometheus Alertmanager (Debian's prometheus-alertmanager): started on loopback with its own
config whose webhook receiver points at the live test server (the integration's token as its bearer credentials, short
group_wait / group_interval); alerts pushed through its API v2, incidents asserted. Under CI=true a missing binary
fails the test."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from alerting import services
from alerting.choices import Outcome
from alerting.models import ReceivedAlert
from incidents.choices import IncidentStatus
from incidents.models import Incident
from tests.conftest import require_program

pytestmark = pytest.mark.slow

BINARY = "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """
global:
  resolve_timeout: 1m
route:
  receiver: ersen-ops
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ersen-ops
    webhook_configs:
      - url: "{url}"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: "{token}"
"""


class Alertmanager:
    def __init__(self, base: str, process: subprocess.Popen, log):
        self.base, self.process, self.log = base, process, log

    def push(self, *alerts):
        response = requests.post(f"{self.base}/api/v2/alerts", json=list(alerts), timeout=10)
        assert response.status_code == 200, response.text

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def alertmanager(transactional_db, live_server, integration, tmp_path):
    binary = require_program("prometheus-alertmanager", BINARY)
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=f"{live_server.url}/api/ops/v1/alerts/alertmanager", token=integration.token))
    log = tmp_path / "alertmanager.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: one standalone instance
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"alertmanager did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield Alertmanager(base, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def alert(name, instance, *, service="api", severity="warning", ends=None):
    body = {
        "labels": {"alertname": name, "service": service, "severity": severity, "instance": instance},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.internal:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


def wait_for(condition, am: Alertmanager, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    received = json.dumps(list(ReceivedAlert.objects.values("fingerprint", "status", "outcome")), default=str)
    pytest.fail(f"timed out waiting for {what}; received: {received}\nalertmanager log:\n{am.logs()[-3000:]}")


def test_alertmanager_end_to_end_one_incident_per_outage(alertmanager, rules):
    alertmanager.push(alert("HighErrorRate", "web-1"))
    incident = wait_for(lambda: Incident.objects.first(), alertmanager, "the first incident")
    assert incident.level == "P2" and incident.title == "HighErrorRate: HighErrorRate on web-1"
    group_key = ReceivedAlert.objects.get().group_key
    assert group_key == '{}:{alertname="HighErrorRate"}'

    # A second instance of the same alert, critical: joins the same incident (same group) and raises it to P1.
    alertmanager.push(alert("HighErrorRate", "web-1"), alert("HighErrorRate", "web-2", severity="critical"))
    wait_for(lambda: ReceivedAlert.objects.filter(outcome=Outcome.JOINED).exists(), alertmanager, "the second alert")
    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert incident.level == "P1"

    # Both resolved (endsAt in the past): Alertmanager sends the resolved notification; the incident monitors.
    past = datetime.now(UTC) - timedelta(seconds=5)
    alertmanager.push(
        alert("HighErrorRate", "web-1", ends=past), alert("HighErrorRate", "web-2", severity="critical", ends=past)
    )
    wait_for(lambda: Incident.objects.filter(status=IncidentStatus.MONITORING).exists(), alertmanager, "monitoring")
    assert services.alert_groups_resolve_quiet(now=datetime.now(UTC) + timedelta(minutes=11)) == 1
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert Incident.objects.count() == 1


def test_alertmanager_alerts_are_suppressed_during_maintenance(alertmanager, rules, window_in_progress):
    window = window_in_progress("api", at=datetime.now(UTC))
    alertmanager.push(alert("HighErrorRate", "web-1", severity="critical"))
    row = wait_for(
        lambda: ReceivedAlert.objects.filter(outcome=Outcome.SUPPRESSED).first(), alertmanager, "a suppressed alert"
    )
    assert row.window == window
    # A database alert in the same moment is no maintenance noise: it opens an incident.
    alertmanager.push(alert("SlowQueries", "db-1", service="db"))
    incident = wait_for(lambda: Incident.objects.first(), alertmanager, "the database incident")
    assert incident.level == "P3"
    assert not Incident.objects.filter(component_impacts__component__name="API").exists()
