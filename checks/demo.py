"""Demo health checks (running it twice changes nothing): the portal's own /healthz, probed by `make run`'s checker,
and the nightly backup's heartbeat. Neither has a component, so the demo's public page shows what people typed."""

from __future__ import annotations

from django.conf import settings

from checks import services
from checks.models import Check
from ersen_ops.config import url_of_addr

ACTOR = "system:demo"


def seed(stdout) -> None:
    made = 0
    if not Check.objects.filter(name="Portal health (this server)").exists():
        services.check_save(actor=ACTOR, check=Check(
            name="Portal health (this server)", url=url_of_addr(settings.OPS_RUN_ADDR).rstrip("/") + "/healthz",
            interval_seconds=30, timeout_seconds=5, body_contains="ok",
        ), components=[])
        made += 1
    if not Check.objects.filter(name="Nightly backup").exists():
        services.check_save(actor=ACTOR, check=Check(
            name="Nightly backup", type="heartbeat", heartbeat_period_seconds=24 * 3600,
            heartbeat_grace_seconds=3600, interval_seconds=300, timeout_seconds=5,
        ), components=[])
        made += 1
    stdout.write(f"checks: {made} demo check(s) added (the checker of `make run` probes them)")
