"""The incident settings: a malformed sprint calendar or re-page interval stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check_with(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    base.update({"DEBUG": "1", "DATABASE_URL": "sqlite:////tmp/ersen-incidents-settings.sqlite3", **env})
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OPS_SPRINT_START": "05/01/2026"}, "Configuration error: OPS_SPRINT_START: expected a date like 2026-01-05, got '05/01/2026'"),
        ({"OPS_SPRINT_DAYS": "0"}, "Configuration error: OPS_SPRINT_DAYS: must be at least 1, got 0"),
        ({"OPS_P1_REPAGE_MINUTES": "five"}, "Configuration error: OPS_P1_REPAGE_MINUTES: expected a whole number, got 'five'"),
    ],
)
def test_bad_incident_settings_stop_start_up_with_one_line(env, message):
    result = check_with(**env)
    assert result.returncode != 0
    assert result.stderr.strip() == message

