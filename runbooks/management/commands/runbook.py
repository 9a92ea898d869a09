"""Launch and follow runbooks from the command line.

    python manage.py runbook run SLUG --host NAME [--window ID] [--param NAME=VALUE …] [--justification TEXT] [--wait]
    python manage.py runbook list
    python manage.py runbook show ID
    python manage.py runbook cancel ID [--reason TEXT]

`run` queues the execution for a django-q worker (nothing runs in this process). With --wait it follows
the run and exits 0 only if it succeeded (1: it failed, was cancelled, timed out or was lost;
2: refused before anything ran; 3: still not finished when --timeout ran out).
"""

from __future__ import annotations

import getpass
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ersen_ops.core.errors import DomainError
from runbooks import selectors, services
from runbooks.choices import FINAL_STATUSES, ExecutionStatus, LaunchChannel
from runbooks.models import ExecutionStep, Host, Runbook, RunbookExecution


class Refused(CommandError):
    def __init__(self, message):
        super().__init__(message, returncode=2)


class Command(BaseCommand):
    help = "Launch (run), list, show or cancel runbook executions."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Queue a runbook on a host.")
        run.add_argument("slug")
        run.add_argument("--host", required=True, help="Host name (see the admin's Hosts list).")
        run.add_argument("--window", type=int, help="Maintenance window id to link the run to.")
        run.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Override a task parameter (validated like any other); repeatable.",
        )
        run.add_argument("--justification", default="", help="Why it runs outside a maintenance window (post-launch).")
        run.add_argument(
            "--user", help="Launch as this user (their permissions apply); default: the system actor cli:<login>."
        )
        run.add_argument("--wait", action="store_true", help="Follow the run; exit 0 only if it succeeded.")
        run.add_argument(
            "--timeout", type=float, default=3600, help="With --wait: give up waiting after this many seconds."
        )
        sub.add_parser("list", help="Runbooks and hosts.")
        show = sub.add_parser("show", help="One execution with its steps.")
        show.add_argument("id", type=int)
        cancel = sub.add_parser("cancel", help="Cancel a queued or running execution.")
        cancel.add_argument("id", type=int)
        cancel.add_argument("--reason", default="")
        cancel.add_argument("--user")

    def handle(self, *args, **options):
        return getattr(self, f"do_{options['action']}")(options)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _actor(self, username):
        if not username:
            return f"system:cli:{getpass.getuser()}"
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise Refused(f"No active user {username!r}.")
        return user

    @staticmethod
    def _params(pairs):
        params = {}
        for pair in pairs:
            if "=" not in pair:
                raise Refused(f"--param expects NAME=VALUE, got {pair!r}.")
            name, value = pair.split("=", 1)
            params[name.strip()] = value
        return params

    # --- actions -----------------------------------------------------------------------------------------------

    def do_run(self, options):
        runbook = Runbook.objects.filter(slug=options["slug"]).first()
        if runbook is None:
            slugs = ", ".join(Runbook.objects.values_list("slug", flat=True)) or "none yet"
            raise Refused(f"No runbook {options['slug']!r} (runbooks: {slugs}).")
        host = Host.objects.filter(name=options["host"]).first()
        if host is None:
            names = ", ".join(Host.objects.values_list("name", flat=True)) or "none yet"
            raise Refused(f"No host {options['host']!r} (hosts: {names}).")
        window = None
        if options["window"]:
            from maintenance.models import MaintenanceWindow

            window = MaintenanceWindow.objects.filter(pk=options["window"]).first()
            if window is None:
                raise Refused(f"No maintenance window with id {options['window']}.")
        try:
            execution = services.execution_launch(
                actor=self._actor(options["user"]),
                runbook=runbook,
                host=host,
                window=window,
                justification=options["justification"],
                overrides=self._params(options["param"]) or None,
                via=LaunchChannel.CLI,
            )
        except DomainError as exc:
            raise Refused(str(exc)) from None
        self.stdout.write(f"Execution #{execution.pk}: {runbook.name} on {host.name} ({host.address}) is queued.")
        for step in execution.plan:
            self.stdout.write(f"  {step['order']}. {step['task']} (timeout {step['timeout']} s)")
        if not options["wait"]:
            return
        status = self._follow(execution.pk, options["timeout"])
        if status != ExecutionStatus.SUCCEEDED:
            raise CommandError(f"Execution #{execution.pk} ended {status}.", returncode=3 if status is None else 1)

    def _follow(self, execution_id: int, timeout: float):
        shown, deadline, hinted = 0, time.monotonic() + timeout, False
        started = time.monotonic()
        while True:
            for step in (
                ExecutionStep.objects.filter(execution_id=execution_id, order__gt=shown)
                .exclude(status="running")
                .order_by("order")
            ):
                if step.order != shown + 1:
                    break
                took = f"{step.duration.total_seconds():.2f} s" if step.duration else ""
                exit_code = f" exit {step.exit_code}" if step.exit_code is not None else ""
                self.stdout.write(f"  [{step.status}] {step.order}. {step.label}{exit_code} {took}")
                if step.error:
                    self.stdout.write(f"      {step.error}")
                shown = step.order
            execution = RunbookExecution.objects.get(pk=execution_id)
            if (
                execution.status in FINAL_STATUSES
                and not ExecutionStep.objects.filter(execution_id=execution_id, order__gt=shown)
                .exclude(status="running")
                .exists()
            ):
                break
            if execution.status == ExecutionStatus.QUEUED and not hinted and time.monotonic() - started > 10:
                self.stdout.write(
                    f"  still queued: {selectors.execution_waiting_message(execution)} "
                    "(is a worker running? `make worker`)"
                )
                hinted = True
            if time.monotonic() > deadline:
                self.stderr.write(
                    f"Gave up waiting after {timeout:g} s; execution #{execution_id} is {execution.status}."
                )
                return None
            time.sleep(0.3)
        style = self.style.SUCCESS if execution.status == ExecutionStatus.SUCCEEDED else self.style.ERROR
        self.stdout.write(style(f"Execution #{execution_id} {execution.status}."))
        if execution.error:
            self.stdout.write(execution.error)
        if execution.result:
            for key, value in execution.result.items():
                self.stdout.write(f"  {key}: {value}")
        return execution.status

    def do_list(self, options):
        self.stdout.write("Runbooks:")
        for runbook in Runbook.objects.prefetch_related("steps"):
            tasks = ", ".join(s.task for s in runbook.steps.all())
            self.stdout.write(f"  {runbook.slug:40} {runbook.name} [{tasks}]{'' if runbook.enabled else ' (disabled)'}")
        self.stdout.write("Hosts:")
        for host in Host.objects.all():
            pin = host.host_key_fingerprint or "NOT PINNED"
            self.stdout.write(f"  {host.name:20} {host.address:35} {pin}{'' if host.enabled else ' (disabled)'}")

    def do_show(self, options):
        execution = RunbookExecution.objects.filter(pk=options["id"]).first()
        if execution is None:
            raise Refused(f"No execution #{options['id']}.")
        self.stdout.write(
            f"#{execution.pk} {execution.runbook_name} on {execution.host_snapshot.get('name')}: {execution.status}"
        )
        waiting = selectors.execution_waiting_message(execution)
        if waiting:
            self.stdout.write(f"  {waiting}")
        for step in execution.steps.order_by("order"):
            exit_code = f" exit {step.exit_code}" if step.exit_code is not None else ""
            self.stdout.write(f"  [{step.status}] {step.order}. {step.label}{exit_code}")
            if step.command:
                self.stdout.write(f"      $ {step.command}")
        if execution.error:
            self.stdout.write(execution.error)

    def do_cancel(self, options):
        execution = RunbookExecution.objects.filter(pk=options["id"]).first()
        if execution is None:
            raise Refused(f"No execution #{options['id']}.")
        try:
            result = services.execution_cancel(
                actor=self._actor(options["user"]), execution=execution, reason=options["reason"]
            )
        except DomainError as exc:
            raise Refused(str(exc)) from None
        self.stdout.write(
            f"Execution #{result.pk}: {'cancelled' if result.status == 'cancelled' else 'cancellation requested'}."
        )
