"""`make run`'s devserver: web + worker together, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_ctrl_c_stops_the_web_server_the_worker_and_their_children(tmp_path):
    db = tmp_path / "dev.sqlite3"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "ersen_ops.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{db}",
        "ERSEN_TEST_MARKER": tmp_path.name,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "devserver", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the web server did not come up"
                time.sleep(0.5)
        assert len(_processes_with(tmp_path.name)) >= 4  # devserver, runserver (+ reloader child), qcluster (+ workers)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _processes_with(tmp_path.name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_with(tmp_path.name) == []
    finally:
        for pid in _processes_with(tmp_path.name):
            os.kill(pid, signal.SIGKILL)
