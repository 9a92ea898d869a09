"""Walk the audit hash chain; exit 0 with a count, or non-zero naming the first broken event."""

from django.core.management.base import BaseCommand, CommandError

from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.selectors import audit_chain_problems


class Command(BaseCommand):
    help = "Verify the audit log's hash chain."

    def handle(self, *args, **options):
        for event, problem in audit_chain_problems():
            raise CommandError(f"audit chain broken at event #{event.pk} ({event.action}): {problem}")
        count = AuditEvent.objects.count()
        self.stdout.write(f"audit chain intact: {count} events verified")
