"""Start-up from the environment: clear one-line errors, production settings pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "SECRET_KEY": "k" * 20 + "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "ops.ersen.xyz",
    "CSRF_TRUSTED_ORIGINS": "https://ops.ersen.xyz",
    "DATABASE_URL": "sqlite:////tmp/ersen-settings-test.sqlite3",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the basics of the parent environment: tests/settings.py put test defaults into os.environ.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "CI"}}
    base.update({"DJANGO_SETTINGS_MODULE": "ersen_ops.settings", "PYTHONPATH": str(ROOT)})
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_with_zero_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("key", ["", "too-short-for-production"])
def test_production_refuses_to_start_without_a_real_secret_key(key):
    env = {**PROD_ENV, "SECRET_KEY": key}
    result = run_manage("check", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Configuration error: SECRET_KEY:")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "mysql-nope://x", "DATABASE_URL: unsupported scheme"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:notaport/db", "DATABASE_URL: cannot parse the database URL: Port could not be cast"),
        ("Q_WORKERS", "two", "Q_WORKERS: expected a whole number, got 'two'"),
        ("OPS_PHASE", "launched", "OPS_PHASE: must be one of prelaunch, postlaunch, got 'launched'"),
        ("DEBUG", "maybe", "DEBUG: expected true/false"),
        ("OPS_MAINTENANCE_TZ", "Mars/Olympus", "OPS_MAINTENANCE_TZ: unknown time zone"),
    ],
)
def test_malformed_value_stops_startup_with_one_line_naming_the_variable(name, value, expected):
    result = run_manage("check", env={**PROD_ENV, name: value})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_database_options_suit_a_web_process_and_a_worker_writing_at_once():
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        options = db["OPTIONS"]
        assert options["transaction_mode"] == "IMMEDIATE"
        assert "journal_mode=WAL" in options["init_command"]
        assert options["timeout"] >= 5
    else:
        assert db["OPTIONS"].get("pool") or db["CONN_HEALTH_CHECKS"]


def test_django_q_timeout_is_below_retry_and_failures_are_not_repeated_forever():
    from django.conf import settings

    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]
    assert q["max_attempts"] > 0
    assert q["ack_failures"] is True


def test_redis_url_switches_the_broker_to_redis():
    code = "from django.conf import settings; print(sorted(k for k in ('orm','redis') if k in settings.Q_CLUSTER))"
    result = run_manage("shell", "-c", code, env={**PROD_ENV, "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert result.returncode == 0, result.stderr
    assert "['redis']" in result.stdout
