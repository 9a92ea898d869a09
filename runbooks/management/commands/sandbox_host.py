"""Start a local sandbox host to try every runbook: `make sandbox-host` (Ctrl-C stops it).

OpenSSH's sshd on 127.0.0.1:2222 with shims for docker, cryptsetup, mount, mountpoint and sudo, and an
HTTPS "site" on https://localhost:8443 with a certificate from the sandbox's own CA. Keys and state live
in var/sandbox/ (git-ignored). The demo data's "sandbox" host points here; pin its key from the admin.
"""

from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runbooks import remote
from runbooks.sandbox import DEFAULT_DIR, DEFAULT_SSH_PORT, DEFAULT_TLS_PORT, Sandbox, TLSServer


class Command(BaseCommand):
    help = "Run the local sandbox host (sshd with shims + an HTTPS site) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(DEFAULT_DIR), help="Keys, shims and state (default: %(default)s).")
        parser.add_argument(
            "--port",
            type=int,
            default=DEFAULT_SSH_PORT,
            help="Port of the SSH host (sshd) on 127.0.0.1 (default: %(default)s; `make sandbox-host` passes "
            "SANDBOX_SSH_PORT).",
        )
        parser.add_argument(
            "--tls-port",
            type=int,
            default=DEFAULT_TLS_PORT,
            help="Port of the HTTPS site on localhost that the smoke test and TLS checks call (default: %(default)s; "
            "`make sandbox-host` passes SANDBOX_TLS_PORT).",
        )
        parser.add_argument(
            "--pg-url",
            default=None,
            help="postgres:// URL whose database `docker exec … pg_dump` dumps "
            "(default: DATABASE_URL if it is PostgreSQL; otherwise a well-formed sample dump).",
        )
        parser.add_argument("--sshd", default="/usr/sbin/sshd", help="The sshd program (default: %(default)s).")

    def handle(self, *args, **options):
        pg_url = options["pg_url"]
        if pg_url is None:
            db = settings.DATABASES["default"]
            if db["ENGINE"].endswith("postgresql"):
                auth = db.get("USER") or "postgres"
                pg_url = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
            else:
                pg_url = ""
        box = Sandbox(options["dir"], port=options["port"], pg_url=pg_url, sshd=options["sshd"]).prepare()
        certs = box.site_certificates()
        try:
            box.start()
        except (RuntimeError, FileNotFoundError) as exc:
            raise CommandError(f"Could not start sshd: {exc}") from None
        site = TLSServer(certs["cert"], certs["key"], port=options["tls_port"]).start()
        key = box.host_key()
        fingerprint = remote.fingerprint_of(key.key_type, key.key_base64)
        self.stdout.write(
            self.style.SUCCESS(f"Sandbox host: {box.user}@127.0.0.1:{box.port} (sshd log: {box.log_file})")
        )
        self.stdout.write(f"  host key:    {key.key_type} {fingerprint}")
        self.stdout.write(f"  site:        https://localhost:{site.port} (CA: {certs['ca']})")
        self.stdout.write(
            f"  database:    {'pg_dump of ' + pg_url.rsplit('/', 1)[-1] if pg_url else 'sample dump (no PostgreSQL)'}"
        )
        self.stdout.write(f"  shim calls:  {box.shim_log}")
        self.stdout.write("In another terminal, start the portal with the sandbox's client key:")
        self.stdout.write(f"  OPS_SSH_KEY_FILE={box.client_key} make run")
        self.stdout.write(
            "then in the admin: Runbooks › Hosts › sandbox › “Fetch and pin host key” (compare the fingerprint above),"
        )
        self.stdout.write("and Runbooks › Runbooks › any runbook › “Run”. Ctrl-C stops the sandbox.")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        try:
            while not stopping and box.proc is not None and box.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            site.stop()
            box.stop()
            self.stdout.write("sandbox stopped.")
