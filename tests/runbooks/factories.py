"""Factories of the runbook tests."""

from __future__ import annotations

import factory
from django.utils import timezone

from runbooks.choices import ExecutionStatus
from runbooks.models import Host, Runbook, RunbookExecution, RunbookStep


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"host-{n}")
    hostname = "127.0.0.1"
    port = 22
    ssh_user = "deploy"
    roles = "db"


class RunbookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Runbook
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Runbook {n}")
    slug = factory.Sequence(lambda n: f"runbook-{n}")
    default_host_role = "db"


class RunbookStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunbookStep

    runbook = factory.SubFactory(RunbookFactory)
    order = factory.Sequence(lambda n: n + 1)
    task = "smoke_test"
    params = factory.LazyFunction(lambda: {"checks": "http://127.0.0.1:9/x 200"})


class ExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunbookExecution

    runbook = factory.SubFactory(RunbookFactory)
    host = factory.SubFactory(HostFactory)
    status = ExecutionStatus.QUEUED
    requested_by_name = "admin"
    requested_at = factory.LazyFunction(timezone.now)
    runbook_name = factory.LazyAttribute(lambda e: e.runbook.name)
    host_snapshot = factory.LazyAttribute(lambda e: {"name": e.host.name})
    plan = factory.LazyFunction(
        lambda: [{"order": 1, "task": "smoke_test", "params": {"checks": "http://127.0.0.1:9/x 200"}, "timeout": 60}]
    )


def runbook_with_steps(slug: str, steps: list[dict], *, name: str | None = None, actor="system:test") -> Runbook:
    """A runbook saved through the service (steps validated like the admin does)."""
    from runbooks import services

    runbook = Runbook.objects.filter(slug=slug).first() or Runbook(
        name=name or slug.replace("-", " ").title(), slug=slug
    )
    return services.runbook_save(actor=actor, runbook=runbook, steps=steps)
