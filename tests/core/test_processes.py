"""`make run`'s processes (the Procfile, through honcho): web + worker together, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import require_program

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 180  # seconds: only a hung process reaches this (a fresh `make run` migrates first); the assertions are about processes, not time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with(marker: str) -> dict[int, str]:
    """Every process (any group, any session) started with our marker in its environment: pid → command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
    return found


def _wait_until(condition, what: str):
    deadline = time.monotonic() + GENEROUS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _web_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _make_run_env(tmp_path, *, database: str, workers: int) -> tuple[str, str, dict]:
    """make, a marker that tags every process started, and a bare environment for `make run` on its own database."""
    make = require_program("make")
    require_program("honcho", str(ROOT / ".venv" / "bin" / "honcho"))
    marker = f"ersen-test-{tmp_path.name}"
    db = tmp_path / database
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "Q_WORKERS": str(workers),
        "ERSEN_TEST_MARKER": marker,
    }
    return make, marker, env


def test_ctrl_c_stops_the_web_server_the_worker_and_all_their_children(tmp_path):
    make, marker, env = _make_run_env(tmp_path, database="dev.sqlite3", workers=2)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**env, "DEBUG": "1"}, check=True, timeout=180
    )
    port = _free_port()
    log = tmp_path / "processes.log"
    # `-o`: use the .venv as it is (never reinstall from inside a test).
    command = [make, "-s", "-o", ".venv/.installed", "processes", f"ADDR=127.0.0.1:{port}"]
    with log.open("wb") as out:
        make_proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until(lambda: _web_answers(port), "the web server did not come up")
        # the worker's main process, its sentinel, 2 workers, the monitor and the pusher
        _wait_until(
            lambda: sum("manage.py worker" in cmd for cmd in _processes_with(marker).values()) >= 6,
            "the worker's cluster did not start all its processes",
        )
        _wait_until(
            lambda: any("manage.py checker" in cmd for cmd in _processes_with(marker).values()),
            "the health checker did not start",
        )
        running = _processes_with(marker)
        assert any("honcho" in cmd for cmd in running.values())
        assert any("runserver" in cmd for cmd in running.values())

        os.killpg(make_proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground process group

        make_proc.wait(timeout=GENEROUS)
        _wait_until(lambda: not _processes_with(marker), f"left behind: {_processes_with(marker)}")
        output = log.read_text(errors="replace")
        assert "sending SIGTERM to worker" in output  # honcho's stop…
        assert "checker" in output and "stopped" in output  # the checker stopped cleanly too
        assert "SIGKILL" not in output  # …was enough: nothing needed honcho's kill fallback
        assert "Traceback" not in output
    finally:
        for pid in _processes_with(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
