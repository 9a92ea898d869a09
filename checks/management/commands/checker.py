"""`python manage.py checker`: the health-check process (one asyncio loop; run several, on several machines).

SIGINT or SIGTERM (also to the whole process group, as honcho and a terminal's Ctrl-C send it) stops it cleanly:
running probes finish, results are written, unstarted leases are given back.
"""

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand

from checks.engine import Checker, default_name


class Command(BaseCommand):
    help = "Run the health checker: claims due checks from PostgreSQL (SKIP LOCKED leases) and probes them."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="", help="This checker's name in leases and results (host:pid).")
        parser.add_argument("--concurrency", type=int, default=500, help="Probes in flight at most.")
        parser.add_argument("--sweep-seconds", type=float, default=30.0, help="How often automation is swept.")

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe would drown the log
        checker = Checker(name=options["name"] or default_name(), concurrency=options["concurrency"],
                          sweep_s=options["sweep_seconds"])

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await checker.run(stop)

        asyncio.run(main())
        self.stdout.write(f"checker {checker.name} stopped: {checker.stats}")
