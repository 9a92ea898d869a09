"""What a production deployment needs, checked from the settings it runs with (`manage.py ops_doctor`).

Each finding says what is wrong and what to set. `/readyz` answers "can this process serve now?"; this answers
"is this deployment ready to be relied on?" — so it looks at configuration that a demo runs fine without.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings

OK, WARN, FAIL = "ok", "warn", "fail"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}
INSECURE_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "prints mail to the console",
    "django.core.mail.backends.locmem.EmailBackend": "keeps mail in memory",
    "django.core.mail.backends.dummy.EmailBackend": "drops every mail",
    "django.core.mail.backends.filebased.EmailBackend": "writes mail to files",
}


@dataclass(frozen=True)
class Finding:
    level: str  # OK, WARN or FAIL
    subject: str  # "SECRET_KEY"
    text: str  # what is wrong and what to set (or what is fine)


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deployment_findings(*, now: datetime, database: bool = True) -> list[Finding]:
    """The production configuration, one finding per concern (pure but for settings and the heartbeat table)."""
    findings = [
        Finding(WARN, "DEBUG", "on: development only (tracebacks, no secure cookies); set DEBUG=0")
        if settings.DEBUG
        else Finding(OK, "DEBUG", "off"),
        _secret_key(),
        _allowed_hosts(),
        _database(),
        _email(),
        _ssh_key(),
        Finding(
            OK if os.path.isabs(settings.OPS_BACKUP_DIR) else FAIL,
            "OPS_BACKUP_DIR",
            f"{settings.OPS_BACKUP_DIR} on the database host (backup_database writes there; check it exists and "
            "has room)"
            if os.path.isabs(settings.OPS_BACKUP_DIR)
            else f"{settings.OPS_BACKUP_DIR!r} is not an absolute path",
        ),
        _status_page_url(),
        _worker_heartbeat(now) if database else Finding(FAIL, "worker", "heartbeat unknown: no database"),
    ]
    return findings


def _secret_key() -> Finding:
    from ersen_ops.settings import _INSECURE_KEY

    key = settings.SECRET_KEY or ""
    if not key or key == _INSECURE_KEY:
        return Finding(FAIL, "SECRET_KEY", "the development key: set a random value of at least 50 characters")
    if len(key) < 50:
        return Finding(FAIL, "SECRET_KEY", f"{len(key)} characters: set a random value of at least 50")
    return Finding(OK, "SECRET_KEY", f"set ({len(key)} characters)")


def _allowed_hosts() -> Finding:
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts:
        return Finding(FAIL, "ALLOWED_HOSTS", "empty: set the portal's host name(s), e.g. ops.ersen.xyz")
    if "*" in hosts:
        return Finding(WARN, "ALLOWED_HOSTS", "'*' answers any Host header: list the portal's names")
    if all(_loopback(h) for h in hosts):
        return Finding(WARN, "ALLOWED_HOSTS", f"loopback only ({', '.join(hosts)}): add the public host name")
    return Finding(OK, "ALLOWED_HOSTS", ", ".join(hosts))


def _database() -> Finding:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        db = settings.DATABASES["default"]
        return Finding(OK, "DATABASE_URL", f"PostgreSQL ({db.get('HOST') or 'local socket'}/{db.get('NAME')})")
    return Finding(WARN, "DATABASE_URL", f"{engine.rsplit('.', 1)[-1]}: production runs on PostgreSQL (postgres://…)")


def _email() -> Finding:
    backend = settings.EMAIL_BACKEND
    if backend in INSECURE_EMAIL_BACKENDS:
        return Finding(
            WARN,
            "EMAIL_URL",
            f"{backend.rsplit('.', 2)[-2]} backend {INSECURE_EMAIL_BACKENDS[backend]}: nobody receives email "
            "(set EMAIL_URL=smtp+tls://user:password@host:587)",
        )
    host = getattr(settings, "EMAIL_HOST", "")
    return Finding(OK, "EMAIL_URL", f"SMTP via {host}:{getattr(settings, 'EMAIL_PORT', '')}")


def _ssh_key() -> Finding:
    path = settings.OPS_SSH_KEY_FILE
    if not path:
        if os.environ.get("SSH_AUTH_SOCK"):
            return Finding(OK, "OPS_SSH_KEY_FILE", "unset: the worker logs in with the SSH agent (SSH_AUTH_SOCK)")
        return Finding(
            WARN,
            "OPS_SSH_KEY_FILE",
            "unset and no SSH agent: runbooks cannot log in to hosts (set the worker's private key file)",
        )
    if not os.path.isfile(path):
        return Finding(FAIL, "OPS_SSH_KEY_FILE", f"{path} does not exist on this machine")
    if not os.access(path, os.R_OK):
        return Finding(FAIL, "OPS_SSH_KEY_FILE", f"{path} is not readable by this user")
    return Finding(OK, "OPS_SSH_KEY_FILE", path)


def _status_page_url() -> Finding:
    url = settings.OPS_STATUS_PAGE_URL
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _loopback(host):
        return Finding(
            WARN,
            "OPS_STATUS_PAGE_URL",
            f"{url} is this machine: subscriber email links and feeds point nowhere for anyone else "
            "(set the public https URL)",
        )
    if parts.scheme != "https":
        return Finding(WARN, "OPS_STATUS_PAGE_URL", f"{url}: use https")
    allowed = list(settings.ALLOWED_HOSTS)
    if "*" not in allowed and not any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed):
        return Finding(
            WARN, "OPS_STATUS_PAGE_URL", f"{host} is not in ALLOWED_HOSTS: the links in emails would get a 400"
        )
    return Finding(OK, "OPS_STATUS_PAGE_URL", url)


def _worker_heartbeat(now: datetime) -> Finding:
    from ersen_ops.core.models import WorkerHeartbeat
    from ersen_ops.core.views import HEARTBEAT_MAX_AGE

    last = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    if last is None:
        return Finding(FAIL, "worker", "no heartbeat ever: start a worker (make worker / manage.py qcluster)")
    age = now - last
    if age > HEARTBEAT_MAX_AGE:
        return Finding(FAIL, "worker", f"last heartbeat {int(age.total_seconds())} s ago: nothing is being sent or run")
    return Finding(OK, "worker", f"heartbeat {int(age.total_seconds())} s ago")
