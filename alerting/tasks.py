"""django-q entry points for alert intake: thin, they only call services."""

from django.utils import timezone

from alerting import services
from ersen_ops.core.db import db_retry


@db_retry
def resolve_quiet_groups() -> int:
    """Every minute: incidents of groups quiet for their integration's quiet period are resolved (idempotent)."""
    return services.alert_groups_resolve_quiet(now=timezone.now())


@db_retry
def release_suppressed() -> int:
    """Every minute: alerts suppressed by a window that has ended, still firing, open or join their incident."""
    return services.alerts_release_suppressed(now=timezone.now())
