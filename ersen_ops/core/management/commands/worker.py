"""The django-q cluster (what `qcluster` runs), stoppable by one SIGINT/SIGTERM to its whole process group.

`make run` starts it through honcho, which stops a process by sending SIGTERM to its process group (a terminal's
Ctrl-C reaches a whole group too). Plain `qcluster` does not survive that: its sentinel process dies at once
(SIGTERM is left at the default there), and the cluster's own stop() then waits forever for the dead sentinel
to acknowledge the stop event, until honcho's SIGKILL five seconds later. Its signal handler also calls
non-reentrant multiprocessing code from signal context (django-q2 issue #346). Here:

- the sentinel (and the workers, monitor and pusher it forks) run in a process group of their own, so a group
  signal reaches only the cluster's main process;
- the main process's handler only sets a flag; the main thread then stops the cluster the documented way
  (stop event → the sentinel drains its workers), outside signal context;
- the sentinel stops itself if the main process disappears (SIGKILL), so no process is left behind.
"""

import os
import signal
import sys
import threading
import time

from django import db
from django.core.management.base import BaseCommand
from django_q import cluster as q_cluster

_PARENT_POLL_SECONDS = 0.5


class _Sentinel(q_cluster.Sentinel):
    def __init__(self, stop_event, *args, **kwargs):
        os.setpgid(0, 0)  # out of the group that honcho / the terminal signals
        parent = os.getppid()

        def stop_when_orphaned():
            while not stop_event.is_set():
                if os.getppid() != parent:
                    stop_event.set()
                    return
                time.sleep(_PARENT_POLL_SECONDS)

        threading.Thread(target=stop_when_orphaned, name="parent-watch", daemon=True).start()
        super().__init__(stop_event, *args, **kwargs)


class Command(BaseCommand):
    help = "Run the task worker (django-q cluster); SIGINT or SIGTERM, also to the whole process group, stops it."

    def handle(self, *args, **options):
        q_cluster.Sentinel = _Sentinel  # Cluster.start() forks the module's Sentinel
        cluster = q_cluster.Cluster()
        stop_requested = []

        def request_stop(signum, frame):
            stop_requested.append(signum)

        # After Cluster() (which installs its own handlers, the ones that can deadlock).
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        cluster.start()
        while not stop_requested and cluster.sentinel.is_alive():
            time.sleep(0.1)
        if cluster.sentinel.is_alive():
            cluster.stop()
        # Everything is stopped and nothing is left to flush but our own streams: skip the interpreter's teardown
        # of every loaded module, which takes the better part of a second, more on a busy machine.
        db.connections.close_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
