"""The Backups admin: a read-only list a newcomer can read — host, taken, size, verified, off-host copy, restore
verified, and why the retention policy keeps each backup — in a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from runbooks.choices import ExecutionStatus
from runbooks.models import Backup, BackupCopy
from tests.runbooks.factories import ExecutionFactory, HostFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def make_backups(host, execution, n, *, start=DAY):
    return [
        Backup.objects.create(
            host=host,
            path=f"/srv/backups/backup_{start - timedelta(days=i):%Y%m%d}.sql",
            size=2048 * (i + 1),
            sha256=f"{i:064x}",
            taken_at=start - timedelta(days=i),
            execution=execution,
            verified=True,
        )
        for i in range(n)
    ]


@pytest.fixture
def inventory(db, settings):
    settings.OPS_BACKUP_KEEP_DAILY, settings.OPS_BACKUP_KEEP_WEEKLY, settings.OPS_BACKUP_KEEP_MONTHLY = 2, 0, 0
    host, offsite = HostFactory(name="prod-1"), HostFactory(name="offsite")
    execution = ExecutionFactory(host=host, status=ExecutionStatus.SUCCEEDED)
    backups = make_backups(host, execution, 4)
    BackupCopy.objects.create(
        backup=backups[0],
        destination=offsite,
        path="/srv/offsite/x.sql",
        sha256=backups[0].sha256,
        verified_at=DAY,
        execution=execution,
    )
    pruner = ExecutionFactory(host=host, status=ExecutionStatus.SUCCEEDED)
    Backup.objects.filter(pk=backups[3].pk).update(pruned_at=DAY, pruned_by=pruner)
    return backups, pruner


def test_the_list_says_why_each_backup_is_kept_and_which_one_goes_next(client, users, inventory):
    backups, pruner = inventory
    client.force_login(users["admin"])
    response = client.get(reverse("admin:runbooks_backup_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    for header in ("host", "taken", "size", "verified", "off-host copy", "restore verified", "kept because"):
        assert f">{header}<" in page.lower() or header in page.lower()
    assert "newest verified backup (2026-11-30 02:00 UTC)<br>daily 2026-11-30" in page
    assert "daily 2026-11-29" in page
    assert "not kept: the next prune_backups deletes it" in page  # 2026-11-28: beyond 2 daily slots
    assert f'href="/admin/runbooks/runbookexecution/{pruner.pk}/change/"' in page and "pruned" in page
    assert "2.0 KiB" in page


def test_the_list_costs_the_same_queries_for_more_backups(client, users, inventory, django_assert_max_num_queries):
    backups, _ = inventory
    client.force_login(users["admin"])
    url = reverse("admin:runbooks_backup_changelist")
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    make_backups(backups[0].host, backups[0].execution, 40, start=DAY - timedelta(days=10))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


def test_the_inventory_is_read_only_in_the_admin(client, users, inventory):
    backups, _ = inventory
    client.force_login(users["admin"])
    assert client.get(reverse("admin:runbooks_backup_add")).status_code == 403
    response = client.post(reverse("admin:runbooks_backup_delete", args=[backups[0].pk]), {"post": "yes"})
    assert response.status_code == 403 and Backup.objects.filter(pk=backups[0].pk).exists()
    page = client.get(reverse("admin:runbooks_backup_change", args=[backups[0].pk])).content.decode()
    assert "offsite" in page and "/srv/offsite/x.sql" in page  # its verified copies, inline
