"""Walk the audit hash chain and compare it with the witness file; exit 0 with a count, or non-zero naming
the first broken event or the events missing since the latest witness.

    manage.py audit_verify                  # the whole chain, streamed in pages (bounded memory), with progress
    manage.py audit_verify --since-witness  # only what is newer than the latest witness line, after checking
                                            # that the table still holds the witnessed head with its hash
"""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ersen_ops.audit import policy, selectors, services, witness
from ersen_ops.audit.selectors import ChainHead, audit_chain_problems


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, and that it still holds everything its witness file saw."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since-witness",
            action="store_true",
            help="verify only the events after the latest witness line (whose head is checked against the table)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    def handle(self, *args, **options):
        services.chain_pending()  # link whatever committed but is not linked yet (a crash between the two)
        path = witness.witness_path()
        try:
            line = witness.latest(path)
        except OSError as exc:
            raise CommandError(f"cannot read the witness file {path}: {exc.strerror or exc}") from None
        start = None
        if options["since_witness"] and line is not None and line.event_id:
            self._check_witness(line, path)  # the starting point must be the witnessed head, unchanged
            start = ChainHead(event_id=line.event_id, hash=line.hash, count=line.count)
        head = selectors.chain_head()
        show = not options["no_progress"] and (sys.stderr.isatty() or options["verbosity"] > 1)
        began, total = time.monotonic(), head.count - (start.count if start else 0)

        def progress(position: int) -> None:
            if show:
                done = position - (start.count if start else 0)
                rate = done / max(time.monotonic() - began, 1e-6)
                sys.stderr.write(f"\r  verified {done:,} of {total:,} events ({rate:,.0f}/s)")
                sys.stderr.flush()

        for event, problem in audit_chain_problems(after=start, progress=progress):
            if show:
                sys.stderr.write("\n")
            raise CommandError(f"audit chain broken at event #{event.pk} ({event.action}): {problem}")
        if show:
            sys.stderr.write("\n")
        if line is not None and start is None:
            self._check_witness(line, path)
        if start is not None:
            self.stdout.write(
                f"audit chain intact: {total:,} events verified after the witnessed head #{start.event_id} "
                f"({head.count:,} in the chain)"
            )
        else:
            self.stdout.write(f"audit chain intact: {head.count:,} events verified")
        pending = selectors.unlinked_count()
        if pending:
            self.stdout.write(f"{pending:,} events committed in the last moment are not linked yet (the next run links them)")
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

    def _check_witness(self, line, path) -> None:
        problem = policy.witness_problem(line, selectors.witness_facts(line.event_id, line.count))
        if problem:
            raise CommandError(f"audit log shorter than its witness ({path}): {problem}")
