"""Demo health checks (running it twice changes nothing): the portal's own /healthz, probed by `make run`'s checker,
and the nightly backup's freshness (a heartbeat beaten by each verified backup with an off-host copy). Neither has a component, so the demo's public page shows what people typed."""

from __future__ import annotations

from django.conf import settings

from checks import services
from checks.choices import CheckType, HeartbeatSource
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
    # Backup freshness: beaten by each verified backup with a verified off-host copy (the runbooks' nightly-backup);
    # silent for OPS_BACKUP_MAX_AGE_HOURS opens a P2 incident, once, resolved by the next fresh backup.
    freshness = {
        "heartbeat_source": HeartbeatSource.VERIFIED_BACKUP, "heartbeat_period_seconds": settings.OPS_BACKUP_MAX_AGE_HOURS
        * 3600, "heartbeat_grace_seconds": 0, "failures_to_down": 1, "successes_to_up": 1, "open_incident": True,
        "incident_level": "P2", "resolve_after_quiet_minutes": 0,
    }
    nightly = Check.objects.filter(name="Nightly backup").first()
    if nightly is None:
        services.check_save(actor=ACTOR, check=Check(
            name="Nightly backup", type="heartbeat", interval_seconds=300, timeout_seconds=5, **freshness,
        ), components=[])
        made += 1
    elif nightly.type == CheckType.HEARTBEAT and nightly.heartbeat_source == HeartbeatSource.URL \
            and not nightly.heartbeat_secret_hash:
        # The earlier demo's URL heartbeat nobody called: it becomes the freshness check (audited like any edit).
        before = services.check_state(nightly)
        for field, value in freshness.items():
            setattr(nightly, field, value)
        services.check_save(actor=ACTOR, check=nightly, components=list(nightly.components.all()), before=before)
    stdout.write(f"checks: {made} demo check(s) added (the checker of `make run` probes them)")
