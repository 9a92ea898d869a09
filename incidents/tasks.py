"""django-q entry points for incidents: thin, they only call services."""

from django.utils import timezone

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again
from incidents import services


@db_retry
def check_sla() -> dict:
    """The every-minute sweeper: breaches and P1 re-pages (safe to run twice)."""
    return services.incidents_check_sla(now=timezone.now())
