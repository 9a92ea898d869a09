"""Demo data: the nightly verified backup of the sandbox host at 03:00 (Pacific), and the weekly restore verification
when the runbook exists. Running this twice changes nothing."""

from __future__ import annotations

from ersen_ops.core.errors import DomainError
from runbooks.models import Host, Runbook
from scheduler import services
from scheduler.models import Schedule

ACTOR = "system:demo"

SCHEDULES = [
    # (name, runbook slugs in order of preference, cron, catch_up)
    ("Nightly verified backup (sandbox)", ("nightly-backup", "database-backup"), "0 3 * * *", True),
    ("Weekly restore verification (sandbox)", ("restore-verification",), "0 4 * * sun", False),
]


def seed(stdout) -> None:
    host = Host.objects.filter(name="sandbox").first()
    if host is None:
        return
    for name, slugs, cron, catch_up in SCHEDULES:
        if Schedule.objects.filter(name=name).exists():
            continue
        runbook = next((r for slug in slugs if (r := Runbook.objects.filter(slug=slug).first())), None)
        if runbook is None:
            continue
        try:
            services.schedule_save(
                actor=ACTOR,
                schedule=Schedule(name=name, runbook=runbook, host=host, cron=cron, catch_up=catch_up),
            )
        except DomainError as exc:  # e.g. the runbook's parameters need a value the demo host lacks
            stdout.write(f"scheduler: demo schedule “{name}” not created: {exc}\n")
            continue
        stdout.write(f"scheduler: demo schedule “{name}” ({runbook.slug}, {cron} Pacific)\n")
