"""The command line: a closed pipe ends any command quietly, options have help, and `make run`'s development
.env lets every manage.py command work in the folder afterwards."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ersen_ops.core.management.commands import dev_env
from runbooks.management.commands.sandbox_host import Command as SandboxHost
from tests.processes import BASE_DIR, database_url

SIGPIPE_EXIT = 141


def _run_into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """`manage.py ARGS | head` where head has already gone: the read end is closed before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    try:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [("runbook", "list"), ("help", "--commands")], ids=["runbook list", "help"])
def test_a_closed_pipe_ends_a_command_quietly_without_a_traceback(args, transactional_db):
    result = _run_into_a_closed_pipe(*args)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode == SIGPIPE_EXIT


def test_sandbox_host_ports_have_help():
    text = " ".join(SandboxHost().create_parser("manage.py", "sandbox_host").format_help().split())
    assert "--port PORT Port of the SSH host (sshd) on 127.0.0.1 (default: 2222;" in text
    assert "--tls-port TLS_PORT Port of the HTTPS site on localhost" in text and "(default: 8443;" in text


def test_dev_env_writes_a_private_development_env_once(tmp_path, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ersen_dev")
    path = tmp_path / ".env"
    call_command("dev_env", path=str(path))
    text = path.read_text()
    assert text.startswith("# Development settings, written by `make run`")
    parsed = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert parsed["DEBUG"] == "1" and len(parsed["SECRET_KEY"]) >= 50
    assert parsed["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/ersen_dev"  # later commands: same database
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    path.write_text("DEBUG=0\n")
    call_command("dev_env", path=str(path))
    assert path.read_text() == "DEBUG=0\n"  # never overwritten


def test_dev_env_refuses_outside_development(tmp_path, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="run it with DEBUG=1, never in production"):
        call_command("dev_env", path=str(tmp_path / ".env"))
    assert not (tmp_path / ".env").exists()


def test_with_the_written_values_alone_a_manage_py_command_works(tmp_path):
    # What a newcomer's shell has after `make run`: no DEBUG, no SECRET_KEY, only the .env's values.
    values = dict(
        line.split("=", 1) for line in dev_env.development_env({}).splitlines() if line and not line.startswith("#")
    )
    bare = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "OPS_ENV_FILE": str(tmp_path / "no.env"),  # as if the folder had no .env yet, whatever this one has
    }
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=bare, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    works = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**bare, **values},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert works.returncode == 0, works.stderr
