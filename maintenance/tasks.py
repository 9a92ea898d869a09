"""django-q entry points for maintenance (thin: they call the services, which are idempotent)."""

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again
from maintenance import services


@db_retry
def mark_overdue() -> int:
    return services.windows_mark_overdue()


@db_retry
def send_reminders() -> int:
    return services.windows_send_reminders()


@db_retry
def sweep_sent_summaries() -> int:
    return services.checklist_sweep_sent_summaries()
