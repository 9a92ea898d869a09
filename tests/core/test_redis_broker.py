"""REDIS_URL: web and worker processes share Redis as the task broker (how the portal grows past one machine)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import missing
from tests.processes import BASE_DIR, Worker, worker_env

REDIS_URL = "redis://127.0.0.1:6379/11"


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_one_process_runs_in_a_worker_process_through_redis(tmp_path):
    if not _redis_reachable():
        missing("Redis is not reachable at 127.0.0.1:6379")
    import redis
    from django_q.models import OrmQ

    from ersen_ops.core.models import WorkerHeartbeat

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    env = worker_env(key_file="", REDIS_URL=REDIS_URL)
    # A "web machine": a process with REDIS_URL queues the task while no worker runs.
    subprocess.run(
        [
            sys.executable, "manage.py", "shell", "-c",
            "from django_q.tasks import async_task; "
            "async_task('ersen_ops.core.services.worker_heartbeat', name='queued-through-redis')",
        ],
        cwd=BASE_DIR, env=env, check=True, timeout=60, capture_output=True,
    )
    assert client.llen("django_q:ersen_ops:q") == 1  # the task waits in Redis …
    assert OrmQ.objects.count() == 0  # … not in the database queue
    worker = Worker(env, tmp_path / "qcluster.log")  # a "worker machine" with the same REDIS_URL
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 30
        while not WorkerHeartbeat.objects.filter(name="queued-through-redis").exists():
            assert time.monotonic() < deadline, worker.log.read_text()[-2000:]
            time.sleep(0.2)
        assert client.llen("django_q:ersen_ops:q") == 0
    finally:
        worker.stop()
