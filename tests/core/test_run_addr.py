"""`make run ADDR=…`: the address it serves on flows into the status page URL (subscriber email links, feeds) and
the demo data (the smoke test's checks, the sandbox host's ports), unless OPS_STATUS_PAGE_URL is set explicitly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ersen_ops.config import url_of_addr
from tests.core.test_processes import (
    GENEROUS,
    _free_port,
    _make_run_env,
    _processes_with,
    _wait_until,
    _web_answers,
)
from tests.core.test_settings import run_manage

ROOT = Path(__file__).resolve().parents[2]
PRINT_URL = "from django.conf import settings; print(settings.OPS_STATUS_PAGE_URL)"


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("127.0.0.1:8101", "http://127.0.0.1:8101"),
        ("8101", "http://127.0.0.1:8101"),
        ("0.0.0.0:8101", "http://127.0.0.1:8101"),
        ("[::1]:8101", "http://[::1]:8101"),
    ],
)
def test_the_served_address_becomes_a_url(addr, url):
    assert url_of_addr(addr) == url


def test_the_status_page_url_follows_the_run_address_unless_set_explicitly():
    env = {"DEBUG": "1", "OPS_RUN_ADDR": "127.0.0.1:8101"}
    assert run_manage("shell", "-c", PRINT_URL, env=env).stdout.splitlines()[-1] == "http://127.0.0.1:8101"
    explicit = {**env, "OPS_STATUS_PAGE_URL": "https://status.ersen.xyz"}
    assert run_manage("shell", "-c", PRINT_URL, env=explicit).stdout.splitlines()[-1] == "https://status.ersen.xyz"


def test_make_run_with_addr_puts_that_address_into_links_and_the_demo_data(tmp_path):
    make, marker, env = _make_run_env(tmp_path, database="run.sqlite3", workers=1)
    port, ssh_port = _free_port(), _free_port()
    command = [make, "-s", "-o", ".venv/.installed", "run", f"ADDR=127.0.0.1:{port}", f"SANDBOX_SSH_PORT={ssh_port}"]
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until(lambda: _web_answers(port), "make run did not serve on ADDR")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status.json", timeout=5) as response:
            page = json.loads(response.read())["page"]
        assert page["url"] == f"http://127.0.0.1:{port}"  # the status page URL every email link is built from
        assert f"Ersen Ops is at http://127.0.0.1:{port}/admin/" in log.read_text(errors="replace")
        # The worker process (which sends the email) got the same address.
        workers = [pid for pid, cmd in _processes_with(marker).items() if "manage.py worker" in cmd]
        assert workers and f"OPS_RUN_ADDR=127.0.0.1:{port}".encode() in Path(f"/proc/{workers[0]}/environ").read_bytes()
        host = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from runbooks.models import Host; h = Host.objects.get(name='sandbox'); "
                "print(h.port); print(h.parameter_defaults['checks'])",
            ],
            cwd=ROOT,
            env={**env, "DEBUG": "1"},
            capture_output=True,
            text=True,
            timeout=GENEROUS,
        ).stdout
        assert str(ssh_port) in host.splitlines()
        assert f"http://127.0.0.1:{port}/healthz 200" in host and ":8000" not in host
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=GENEROUS)
        _wait_until(lambda: not _processes_with(marker), "make run left processes behind")
