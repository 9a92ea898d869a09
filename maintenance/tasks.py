"""django-q entry points for maintenance (thin: they call the services, which are idempotent)."""

from maintenance import services


def mark_overdue() -> int:
    return services.windows_mark_overdue()


def send_reminders() -> int:
    return services.windows_send_reminders()


def sweep_sent_summaries() -> int:
    return services.checklist_sweep_sent_summaries()
