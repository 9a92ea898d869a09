"""Real processes for tests: an sshd sandbox host, a pinned Host row, a qcluster worker, and an OpenID Connect
provider (tests/oidc_provider).

Registered once for the whole suite by tests/conftest.py (so a session starts one sandbox host, whichever
of the runbook and end-to-end tests use it).

The worker is a separate process, so it must see the rows the test commits: tests using it are
transactional (`transactional_db`), and on SQLite the test database is a file (tests/settings.py), never in-memory. The worker gets DATABASE_URL pointing at that same test
database (a file on SQLite, `test_<name>` on PostgreSQL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import require_program

BASE_DIR = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """A DATABASE_URL for another process, pointing at the test database this session uses."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture(scope="session")
def sandbox(django_db_setup, django_db_blocker, tmp_path_factory):
    """OpenSSH sshd on 127.0.0.1 at a free port with its own host key and shims (session-wide)."""
    sshd = require_program("sshd", "/usr/sbin/sshd")
    require_program("ssh-keygen")
    from runbooks.sandbox import Sandbox

    pg_url = database_url() if connection.vendor == "postgresql" else ""
    box = Sandbox(tmp_path_factory.mktemp("sandbox"), pg_url=pg_url, sshd=sshd).prepare().start()
    yield box
    box.stop()


@pytest.fixture
def ssh_key(settings, sandbox):
    settings.OPS_SSH_KEY_FILE = str(sandbox.client_key)
    settings.OPS_SSH_CONNECT_TIMEOUT = 5
    return sandbox.client_key


@pytest.fixture
def sandbox_host(sandbox, ssh_key, users):
    """A Host row for the sandbox, its key pinned through the real "Fetch and pin" service."""
    from runbooks import remote, services
    from runbooks.models import Host
    from tests.factories import ComponentFactory

    sandbox.reset()
    host = Host(
        name="sandbox",
        hostname="127.0.0.1",
        port=sandbox.port,
        ssh_user=sandbox.user,
        roles="db, web",
        parameter_defaults=sandbox.parameter_defaults(),
    )
    services.host_save(actor=users["admin"], host=host, components=[ComponentFactory(name="Database")])
    key = sandbox.host_key()
    return services.host_pin_key(
        actor=users["admin"], host=host, confirmed_fingerprint=remote.fingerprint_of(key.key_type, key.key_base64)
    )


@pytest.fixture(scope="session")
def extra_sandboxes(sandbox, tmp_path_factory):
    """Two more sshd sandbox hosts (session-wide), authorising the same client key as `sandbox`, so a group run has
    three real hosts at once."""
    import shutil

    from runbooks.sandbox import Sandbox

    boxes = []
    try:
        for i in range(2):
            root = tmp_path_factory.mktemp(f"sandbox-extra-{i}")
            shutil.copy(sandbox.client_key, root / sandbox.client_key.name)
            shutil.copy(f"{sandbox.client_key}.pub", root / f"{sandbox.client_key.name}.pub")
            boxes.append(Sandbox(root, sshd=sandbox.sshd).prepare().start())
        yield boxes
    finally:
        for box in boxes:
            box.stop()


def pinned_sandbox_host(box, *, actor, name: str, position: int = 100, roles: str = "web", components=()):
    """A Host row for a sandbox, its key pinned through the real "Fetch and pin" service."""
    from runbooks import remote, services
    from runbooks.models import Host

    host = Host(
        name=name,
        hostname="127.0.0.1",
        port=box.port,
        ssh_user=box.user,
        roles=roles,
        position=position,
        parameter_defaults=box.parameter_defaults(),
    )
    services.host_save(actor=actor, host=host, components=list(components))
    key = box.host_key()
    return services.host_pin_key(
        actor=actor, host=host, confirmed_fingerprint=remote.fingerprint_of(key.key_type, key.key_base64)
    )


@pytest.fixture
def fleet(sandbox, extra_sandboxes, ssh_key, users):
    """Three pinned sandbox hosts with role "fleet", positions 30, 10, 20 (so the run order is b, c, a):
    [(host, sandbox), …] in run order."""
    from tests.factories import ComponentFactory

    component = ComponentFactory(name="Fleet service")
    boxes = [sandbox, *extra_sandboxes]
    rows = []
    for box, name, position in zip(boxes, ("fleet-a", "fleet-b", "fleet-c"), (30, 10, 20), strict=True):
        box.reset()
        host = pinned_sandbox_host(
            box, actor=users["admin"], name=name, position=position, roles="fleet", components=[component]
        )
        rows.append((host, box))
    return sorted(rows, key=lambda r: r[0].position)


class Worker:
    """`manage.py qcluster` in its own process group, on the test database."""

    def __init__(self, env: dict, log: Path):
        self.log = log
        self._log_handle = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        from ersen_ops.core.models import WorkerHeartbeat

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qcluster exited: {self.log.read_text()[-3000:]}")
            if WorkerHeartbeat.objects.exists():
                return
            time.sleep(0.1)
        raise RuntimeError(f"qcluster did not start within {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the cluster stops its own workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of its process group is left
        except ProcessLookupError:
            pass
        self._log_handle.close()


def worker_env(*, key_file: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        OPS_SSH_KEY_FILE=key_file,
        OPS_SSH_CONNECT_TIMEOUT="5",
        Q_WORKERS="2",
        REDIS_URL="",
        LOG_LEVEL="info",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def worker(transactional_db, sandbox, ssh_key, tmp_path):
    """A real django-q cluster (2 workers) on the test database; stopped (process group) after the test."""
    from ersen_ops.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.all().delete()
    w = Worker(worker_env(key_file=str(sandbox.client_key)), tmp_path / "qcluster.log")
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """The test OpenID Connect provider (django-oauth-toolkit) on 127.0.0.1 at a free port, session-wide: its own
    process, SQLite file and RS256 key. Tests add users (`add_user`) and flip the tamper switch (`tamper`)."""
    from tests.oidc_provider.process import OIDCProvider

    provider = OIDCProvider(tmp_path_factory.mktemp("oidc-provider")).start()
    yield provider
    provider.stop()


@pytest.fixture
def idp(oidc_provider):
    """The session's provider, its tamper switch reset after the test."""
    yield oidc_provider
    oidc_provider.tamper(None)
