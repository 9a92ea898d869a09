"""Run the ersen-ops command line as a real process against the live server, with a real token."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from api import services as api_services
from api.choices import TokenScope
from tests.maintenance.conftest import ensure_checklist_templates

CLI_SOURCE = Path(__file__).resolve().parents[2] / "cli" / "src"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_users(transactional_db, users):
    ensure_checklist_templates()
    return users


@pytest.fixture
def ersen_ops(live_server):
    """ersen_ops(user, *args, scopes=…, env=…) → Run: `python -m ersen_ops_cli ARGS` with a new token of `user`
    (the checkout's cli/src, whatever is installed)."""

    def environment(user, scopes=tuple(TokenScope.values), env=None) -> dict:
        token = ""
        if user is not None:
            _, token = api_services.token_create(actor=user, name="ci", scopes=list(scopes), days=None)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(CLI_SOURCE),
            "ERSEN_OPS_URL": live_server.url,
            "ERSEN_OPS_TOKEN": token,
            **(env or {}),
        }

    def run(user, *args, scopes=tuple(TokenScope.values), env=None, timeout=120):
        done = subprocess.run(
            [sys.executable, "-m", "ersen_ops_cli", *args],
            env=environment(user, scopes, env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def start(user, *args, scopes=tuple(TokenScope.values), env=None) -> subprocess.Popen:
        """The CLI as a background process (for --wait), its output in pipes."""
        return subprocess.Popen(
            [sys.executable, "-m", "ersen_ops_cli", *args],
            env=environment(user, scopes, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    run.start = start
    return run
