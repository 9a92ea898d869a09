"""The lockout holds across server processes: two gunicorn servers on one PostgreSQL database share the count."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.accounts.choices import AccessAction
from tests.factories import UserFactory
from tests.processes import BASE_DIR, database_url

LOGIN_PATH = "/accounts/login/"
USERNAME_FIELD = "login"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn process (one sync worker) serving the portal on the test database."""

    def __init__(self, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
        self._log = log.open("w")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ersen_ops.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=10).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still loading the app (a busy machine)
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: {self.log.read_text()[-3000:]}")

    def login(self, username: str, password: str) -> requests.Response:
        session = requests.Session()
        page = session.get(self.url + LOGIN_PATH, timeout=30)
        token = _CSRF.search(page.text).group(1)
        return session.post(
            self.url + LOGIN_PATH,
            data={"csrfmiddlewaretoken": token, USERNAME_FIELD: username, "password": password, "next": "/admin/"},
            allow_redirects=False,
            timeout=30,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


@pytest.fixture
def two_servers(transactional_postgres, tmp_path):
    servers = [Server(tmp_path / f"gunicorn-{n}.log") for n in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_failures_split_between_two_servers_lock_the_login_on_both(two_servers):
    UserFactory(username="alice")
    first, second = two_servers
    answers = [server.login("alice", "wrong") for server in (first, second, first, second)]
    assert [a.status_code for a in answers] == [200] * 4, "four failures: the login form again"
    fifth = first.login("alice", "wrong")
    assert fifth.status_code == 429 and "Logging in is paused" in fifth.text
    for server in (first, second):
        refused = server.login("alice", "pw")  # the right password
        assert refused.status_code == 429 and "Try again" in refused.text
        assert "sessionid" not in refused.cookies
    assert AuditEvent.objects.filter(action=AccessAction.LOGIN_FAILED).count() == 7
    assert AuditEvent.objects.filter(action=AccessAction.LOCKED_OUT).count() == 1
    assert not AuditEvent.objects.filter(action=AccessAction.LOGIN).exists()
