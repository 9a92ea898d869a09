"""Demo data: the four runbooks of the seed's infrastructure procedures, the nightly backup (verified, copied
off-host, pruned) and the weekly restore verification, a "sandbox" host and an "offsite" host (the copy's
destination).

The sandbox host points at `make sandbox-host` (127.0.0.1, port OPS_SANDBOX_SSH_PORT = SANDBOX_SSH_PORT, 2222), and
its smoke test checks the portal where `make run` serves it (OPS_RUN_ADDR = ADDR). Its key is not pinned here on purpose:
pinning is an explicit, audited admin action ("Fetch and pin host key"). Running this twice changes nothing.
"""

from __future__ import annotations

import getpass

from django.conf import settings

from ersen_ops.config import url_of_addr
from ersen_ops.status.models import Component
from runbooks import services
from runbooks.models import Host, HostGroup, Runbook
from runbooks.sandbox import DEFAULT_DIR, demo_parameter_defaults

ACTOR = "system:demo"

RUNBOOKS = [
    (
        "database-backup",
        "Database backup",
        "Pre-maintenance backup: pg_dump into the backup folder, verified (header, completion line, size, SHA-256).",
        "db",
        [{"task": "backup_database"}],
    ),
    (
        "unlock-encrypted-volume",
        "Unlock encrypted volume after reboot",
        "After any VPS reboot: open the LUKS volume, mount it, start the containers. Safe to run twice.",
        "db",
        [{"task": "unlock_encrypted_volume"}],
    ),
    (
        "restart-traefik",
        "Restart Traefik and check TLS",
        "If certificates misbehave: restart traefik, then check https://ersen.xyz has no certificate warnings.",
        "web",
        [{"task": "restart_service"}],
    ),
    (
        "smoke-test",
        "Smoke test critical paths",
        "After maintenance: login, widgets and payments answer as expected.",
        "web",
        [{"task": "smoke_test"}],
    ),
    (
        "nightly-backup",
        "Nightly backup (verified, off-host copy, retention)",
        "Every night (the scheduler's demo runs it at 03:00): pg_dump verified, copied to the “offsite” host and "
        "checked there by SHA-256, then old dumps pruned (grandfather-father-son: OPS_BACKUP_KEEP_DAILY/WEEKLY/"
        "MONTHLY; never the newest verified backup nor a window's evidence). Read-only for the window rule.",
        "db",
        [
            {"task": "backup_database"},
            {"task": "copy_backup_offhost", "params": {"destination": "offsite"}},
            {"task": "prune_backups"},
        ],
    ),
    (
        "restore-verification",
        "Restore verification (weekly)",
        "Weekly: restore the newest verified backup into a scratch database, count its tables, drop the scratch "
        "database (always, also after a failure).",
        "db",
        [{"task": "verify_restore"}],
    ),
]

# The off-host copy's destination in the demo: the same sandbox sshd as "sandbox" (one `make sandbox-host`), with its
# own folder. A real setup points it at another machine; the copy, the pinned key and the SHA-256 check are the same.
OFFSITE_NOTES = (
    "Demo destination of the nightly off-host backup copy: the same sandbox sshd as “sandbox” with another folder "
    "(var/sandbox/offsite). In production, a second machine. Pin its key with “Fetch and pin host key”."
)


def seed(stdout) -> None:
    for slug, name, description, role, steps in RUNBOOKS:
        if Runbook.objects.filter(slug=slug).exists():
            continue
        runbook = Runbook(slug=slug, name=name, description=description, default_host_role=role)
        services.runbook_save(actor=ACTOR, runbook=runbook, steps=steps)
    ssh_port, tls_port = settings.OPS_SANDBOX_SSH_PORT, settings.OPS_SANDBOX_TLS_PORT
    # The smoke test checks the portal where `make run` serves it (ADDR → OPS_RUN_ADDR), never a fixed :8000.
    parameters = demo_parameter_defaults(tls_port=tls_port, web=url_of_addr(settings.OPS_RUN_ADDR))
    host = Host.objects.filter(name="sandbox").first()
    if host is None:
        host = Host(
            name="sandbox",
            hostname="127.0.0.1",
            port=ssh_port,
            ssh_user=getpass.getuser(),
            roles="db, web",
            parameter_defaults=parameters,
            notes="Local sandbox host: run `make sandbox-host`, then pin its key with “Fetch and pin host key”.",
        )
        components = Component.objects.filter(name__in=["Database", "Website", "Login", "Widgets", "Payments"])
        services.host_save(actor=ACTOR, host=host, components=list(components))
    elif host.hostname == "127.0.0.1" and (
        host.port != ssh_port or {k: host.parameter_defaults.get(k) for k in parameters} != parameters
    ):
        # `make run` with another ADDR or sandbox ports: the demo host follows (audited like any edit).
        host.port = ssh_port
        host.parameter_defaults = {**host.parameter_defaults, **parameters}
        services.host_save(actor=ACTOR, host=host, components=list(host.components.all()))
    # A host group by role: "Run on a host group" on any runbook targets every enabled "web" host, in position order.
    if not HostGroup.objects.filter(slug="web-hosts").exists():
        services.host_group_save(
            actor=ACTOR,
            group=HostGroup(
                name="Web hosts",
                slug="web-hosts",
                role="web",
                description="Every enabled host with role “web”; a rolling restart runs them in batches.",
            ),
            hosts=[],
        )
    offsite_dir = str(DEFAULT_DIR / "offsite")
    offsite = Host.objects.filter(name="offsite").first()
    if offsite is None:
        offsite = Host(
            name="offsite",
            hostname="127.0.0.1",
            port=ssh_port,
            ssh_user=getpass.getuser(),
            roles="backup",
            parameter_defaults={"backup_dir": offsite_dir},
            notes=OFFSITE_NOTES,
        )
        services.host_save(actor=ACTOR, host=offsite, components=[])
    elif offsite.hostname == "127.0.0.1" and offsite.port != ssh_port:
        offsite.port = ssh_port
        services.host_save(actor=ACTOR, host=offsite, components=list(offsite.components.all()))
