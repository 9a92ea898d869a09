"""End to end with a real django-q cluster process: notify → commit → worker → webhook, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django_q.tasks import async_task

from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.services import notify
from tests.notifications.conftest import DISCORD_PATH

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def qcluster(transactional_postgres, httpserver):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}{':' + quote(db['PASSWORD']) if db.get('PASSWORD') else ''}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DISCORD_WEBHOOK_URL": httpserver.url_for(DISCORD_PATH),
        "Q_WORKERS": "1",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_process_sends_after_commit_and_a_duplicated_task_sends_nothing_more(qcluster, httpserver):
    httpserver.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    with transaction.atomic():
        (delivery,) = notify(event="maintenance.started", channels=[Channel.DISCORD], subject="Started", body="Now.")
    assert _wait_for(lambda: NotificationDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT)
    # The same task delivered twice more (django-q is at-least-once).
    async_task("ersen_ops.notifications.tasks.send_delivery", delivery.pk)
    async_task("ersen_ops.notifications.tasks.send_delivery", delivery.pk)
    from django_q.models import OrmQ

    assert _wait_for(lambda: not OrmQ.objects.exists())
    time.sleep(1)  # let the worker finish what it took from the queue
    assert len(httpserver.log) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1
