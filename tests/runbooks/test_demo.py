"""Demo data: the four runbooks of the seed and a sandbox host, idempotent, audited."""

from __future__ import annotations

import io

import pytest

from ersen_ops.audit.models import AuditEvent
from runbooks import demo, policy, selectors
from runbooks.models import Host, Runbook

pytestmark = pytest.mark.django_db


def test_seed_creates_the_four_runbooks_and_the_sandbox_host_once():
    from ersen_ops.status.demo import seed as seed_components

    seed_components(io.StringIO())
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    assert sorted(Runbook.objects.values_list("name", flat=True)) == [
        "Database backup",
        "Restart Traefik and check TLS",
        "Smoke test critical paths",
        "Unlock encrypted volume after reboot",
    ]
    host = Host.objects.get()
    assert host.name == "sandbox" and host.port == 2222 and not host.is_pinned
    assert {c.name for c in host.components.all()} >= {"Database", "Login", "Widgets", "Payments"}
    assert AuditEvent.objects.filter(action="runbooks.runbook.created").count() == 4
    # Every demo runbook resolves to a valid plan on the sandbox host.
    for runbook in Runbook.objects.all():
        plan = policy.build_plan(
            selectors.runbook_steps(runbook),
            host_defaults=host.parameter_defaults,
            overrides=None,
            max_timeout=selectors.max_step_timeout(),
        )
        assert plan
