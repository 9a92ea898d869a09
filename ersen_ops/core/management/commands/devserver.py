"""Run the web server and a django-q cluster together; Ctrl-C stops both (and their children)."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start runserver and qcluster side by side (for `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        python = sys.executable
        # Each in its own process group, so stopping reaches runserver's reloader child and the cluster's workers.
        procs = [
            subprocess.Popen([python, "manage.py", "qcluster"], start_new_session=True),
            subprocess.Popen([python, "manage.py", "runserver", options["addrport"]], start_new_session=True),
        ]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"web: http://{options['addrport']}/admin/   worker: qcluster   (Ctrl-C stops both)")
        try:
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.3)
        finally:
            for p in procs:
                _signal_group(p, signal.SIGINT)
            deadline = time.monotonic() + 15
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                _signal_group(p, signal.SIGKILL)  # whatever of the group is still there
            self.stdout.write("web server and worker stopped.")


def _signal_group(proc, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
