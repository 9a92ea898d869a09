"""Demo data: the four runbooks of the seed and a sandbox host, idempotent, audited."""

from __future__ import annotations

import io

import pytest

from ersen_ops.audit.models import AuditEvent
from runbooks import demo, policy, selectors
from runbooks.models import Host, Runbook

pytestmark = pytest.mark.django_db


def test_seed_creates_the_runbooks_the_sandbox_and_the_offsite_host_once():
    from ersen_ops.status.demo import seed as seed_components

    seed_components(io.StringIO())
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    assert sorted(Runbook.objects.values_list("name", flat=True)) == [
        "Database backup",
        "Nightly backup (verified, off-host copy, retention)",
        "Restart Traefik and check TLS",
        "Restore verification (weekly)",
        "Smoke test critical paths",
        "Unlock encrypted volume after reboot",
    ]
    host = Host.objects.get(name="sandbox")
    assert host.port == 2222 and not host.is_pinned
    assert {c.name for c in host.components.all()} >= {"Database", "Login", "Widgets", "Payments"}
    offsite = Host.objects.get(name="offsite")
    assert (offsite.hostname, offsite.port, offsite.is_pinned) == ("127.0.0.1", 2222, False)
    assert offsite.parameter_defaults["backup_dir"].endswith("/var/sandbox/offsite")
    assert AuditEvent.objects.filter(action="runbooks.runbook.created").count() == 6
    nightly = Runbook.objects.get(slug="nightly-backup")
    assert [s["task"] for s in selectors.runbook_steps(nightly)] == [
        "backup_database",
        "copy_backup_offhost",
        "prune_backups",
    ]
    # Backups, copies, pruning and restore checks are read-only for the window rule: schedulable any time.
    assert not selectors.runbook_changes_a_host(nightly)
    assert not selectors.runbook_changes_a_host(Runbook.objects.get(slug="restore-verification"))
    # Every demo runbook resolves to a valid plan on the sandbox host.
    for runbook in Runbook.objects.all():
        plan = policy.build_plan(
            selectors.runbook_steps(runbook),
            host_defaults=host.parameter_defaults,
            overrides=None,
            max_timeout=selectors.max_step_timeout(),
        )
        assert plan
