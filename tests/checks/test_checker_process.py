"""The real checker process (`manage.py checker`) against loopback targets, and two checkers sharing the work with one
killed mid-run (its checks are taken over within one interval)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from checks import services
from checks.choices import CheckState
from checks.models import Check, CheckResult
from ersen_ops.status.models import Component
from incidents.models import Incident
from tests.checks.servers import Target, closed_port
from tests.processes import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class CheckerProcess:
    def __init__(self, name: str, log: Path):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
        self.log = log
        self.out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "checker", "--name", name, "--sweep-seconds", "2"],
            cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.out.close()
        return self.log.read_text(errors="replace")


def wait_for(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def make(name, components=(), **fields):
    fields.setdefault("interval_seconds", 10)
    fields.setdefault("timeout_seconds", 2)
    return services.check_save(actor="system:test", check=Check(name=name, **fields), components=list(components))


def test_a_real_checker_probes_sets_status_opens_incidents_and_judges_heartbeats(transactional_postgres, tmp_path,
                                                                                 client):
    web = Component.objects.create(name="Web")
    backups = Component.objects.create(name="Backups")
    with Target() as target:
        ok = make("login page", [web], url=target.url("/ok"), body_contains="login")
        broken = make("payments", [web], url=target.url("/status?code=502"), failures_to_down=1, open_incident=True,
                      incident_level="P3", incident_first_update_public=True)
        closed = make("smtp port", [], type="tcp", host="127.0.0.1", port=closed_port(), failures_to_down=1)
        nightly = make("nightly backup", [backups], type="heartbeat", heartbeat_period_seconds=3600,
                       heartbeat_grace_seconds=60, failures_to_down=1)
        missed = make("hourly export", [backups], type="heartbeat", heartbeat_period_seconds=60,
                      heartbeat_grace_seconds=10, failures_to_down=1)
        Check.objects.filter(pk=missed.pk).update(created_at=timezone.now() - timedelta(hours=2))
        path = services.heartbeat_new_secret(actor="system:test", check=nightly)
        assert client.get(path).status_code == 200  # the backup script calls its URL
        assert client.get(path[:-3] + "xx/").status_code == 404  # a wrong secret records nothing

        checker = CheckerProcess("solo", tmp_path / "checker.log")
        try:
            wait_for(lambda: Check.objects.filter(last_result_at__isnull=False).count() == 5
                     and Incident.objects.exists(), "the checker did not run every check")
        finally:
            log = checker.stop()
    assert "Traceback" not in log
    assert "checker solo stopped" in log
    states = {c.name: (c.state, c.last_message) for c in Check.objects.all()}
    assert states["login page"][0] == CheckState.UP
    assert states["payments"][0] == CheckState.DOWN
    assert states["payments"][1].startswith(f"HTTP 502 from {broken.url} after ")
    assert states["smtp port"] == (CheckState.DOWN, f"could not connect to {closed.target}: connection refused")
    assert states["nightly backup"][0] == CheckState.UP  # pinged; on time
    assert states["hourly export"][0] == CheckState.DOWN
    assert states["hourly export"][1].startswith("no heartbeat received since the check was created 2 h")
    assert Component.objects.get(pk=web.pk).automatic_status == "major_outage"
    assert Component.objects.get(pk=backups.pk).automatic_status == "major_outage"
    incident = Incident.objects.get()
    assert incident.title == "payments is down" and incident.level == "P3"
    assert CheckResult.objects.filter(health_check=ok, passed=True, checker="solo").exists()
    # No lease is left behind by a clean stop.
    assert not Check.objects.exclude(leased_by="").exclude(lease_until__lt=timezone.now()).filter(
        next_due_at__lte=timezone.now()).exists()


def test_two_checkers_share_the_checks_and_one_takes_over_when_the_other_is_killed(transactional_postgres, tmp_path):
    with Target() as target:
        checks = [make(f"site {i}", url=target.url("/ok"), interval_seconds=10, timeout_seconds=2) for i in range(40)]
        a = CheckerProcess("checker-a", tmp_path / "a.log")
        b = CheckerProcess("checker-b", tmp_path / "b.log")
        try:
            def both_worked():
                names = set(CheckResult.objects.values_list("checker", flat=True))
                return {"checker-a", "checker-b"} <= names and CheckResult.objects.values(
                    "health_check").distinct().count() == len(checks)

            wait_for(both_worked, "both checkers did not take a share of the checks")
            os.killpg(a.proc.pid, signal.SIGKILL)  # mid-run: leases left behind
            a.proc.wait(timeout=10)
            killed_at = timezone.now()
            # Within one interval (10 s) plus the lease margin, every check has run again, on checker B.
            wait_for(
                lambda: CheckResult.objects.filter(at__gt=killed_at, checker="checker-b").values(
                    "health_check").distinct().count() == len(checks),
                "checker B did not take over every check", seconds=10 + 2 + 2 + 10,
            )
            took = (max(CheckResult.objects.filter(at__gt=killed_at).values_list("at", flat=True)) - killed_at)
        finally:
            a.stop(signal.SIGKILL)
            log_b = b.stop()
    assert took <= timedelta(seconds=10 + 4 + 3), took
    assert "Traceback" not in log_b
    # SKIP LOCKED: no due moment of any check was probed twice.
    doubled = (CheckResult.objects.values("health_check", "due_at").annotate(n=Count("id")).filter(n__gt=1))
    assert not doubled.exists(), list(doubled)
