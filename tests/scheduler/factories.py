"""Factories of the scheduler tests."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from tests.factories import ComponentFactory
from tests.runbooks.factories import HostFactory, runbook_with_steps

LA = zoneinfo.ZoneInfo("America/Los_Angeles")


def host(name: str = "prod-1", component: str = "Database"):
    h = HostFactory(name=name, host_key_type="ssh-ed25519", host_key="AAAA", host_key_fingerprint="SHA256:x")
    h.components.set([ComponentFactory(name=component)])
    return h


def smoke_runbook():
    """Read-only and needs no SSH (a check from the portal)."""
    return runbook_with_steps("smoke", [{"task": "smoke_test", "params": {"checks": "http://127.0.0.1:9/x 200"}}])


def restart_runbook():
    """Changes a host (restart_service is disruptive)."""
    return runbook_with_steps("restart", [{"task": "restart_service"}])


def schedule(*, runbook, target, cron="* * * * *", since: datetime | None = None, actor="system:test", **fields):
    from scheduler import services
    from scheduler.models import Schedule

    obj = services.schedule_save(
        actor=actor,
        schedule=Schedule(
            name=fields.pop("name", None) or f"{runbook.slug} on {target.name if target else 'a group'}",
            runbook=runbook,
            host=target,
            cron=cron,
            **fields,
        ),
        now=since,
    )
    return obj
