"""The "verified backup landed" registry: runbooks announces, higher apps listen (checks records the nightly backup's
heartbeat). Runbooks is a lower layer than checks, so it never imports it; `checks.apps` registers a listener.

Announced after the commit of the run's finish, once per run that recorded a verified backup *with* a verified
off-host copy (freshness counts only backups that would survive the loss of the host).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupLanded:
    backup_id: int
    host_name: str
    path: str
    sha256: str
    taken_at: datetime
    copies: tuple[str, ...]  # "destination:path" of each verified off-host copy
    execution_id: int
    at: datetime  # when the run finished


BackupListener = Callable[[BackupLanded], None]

_listeners: list[BackupListener] = []


def register_backup_listener(listener: BackupListener) -> None:
    """Idempotent (`ready()` may run twice in tests)."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce(event: BackupLanded) -> None:
    """Tell every listener; one failing listener is logged and does not stop the others (the run is recorded)."""
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a listener's failure must not undo or hide the finished run
            logger.exception("backup listener %r failed for backup %s", listener, event.backup_id)
