"""Walk the audit hash chain and compare it with the witness file; exit 0 with a count, or non-zero naming
the first broken event or the events missing since the latest witness."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ersen_ops.audit import policy, selectors, witness
from ersen_ops.audit.selectors import audit_chain_problems


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, and that it still holds everything its witness file saw."

    def handle(self, *args, **options):
        for event, problem in audit_chain_problems():
            raise CommandError(f"audit chain broken at event #{event.pk} ({event.action}): {problem}")
        head = selectors.chain_head()
        path = witness.witness_path()
        try:
            line = witness.latest(path)
        except OSError as exc:
            raise CommandError(f"cannot read the witness file {path}: {exc.strerror or exc}") from None
        if line is not None:
            problem = policy.witness_problem(line, selectors.witness_facts(line.event_id))
            if problem:
                raise CommandError(f"audit log shorter than its witness ({path}): {problem}")
        self.stdout.write(f"audit chain intact: {head.count:,} events verified")
        if line is None:
            self.stdout.write(f"witness: none yet ({path} holds no witness line); the length of the log is unchecked")
            return
        newer = head.count - line.count
        saw = f"{line.count:,} events ending at #{line.event_id}" if line.event_id else "an empty log"
        self.stdout.write(
            f"witness: holds everything the witness of {policy.witness_when(line)} saw "
            f"({saw}); {newer:,} newer events not yet witnessed"
        )
        age = timezone.now() - line.at
        if age.total_seconds() > 3 * 60 * settings.OPS_AUDIT_CHECKPOINT_MINUTES:
            self.stdout.write(
                self.style.WARNING(
                    f"warning: the latest witness is {int(age.total_seconds() // 60):,} minutes old "
                    f"(checkpoints every {settings.OPS_AUDIT_CHECKPOINT_MINUTES} minutes): is the worker running?"
                )
            )
