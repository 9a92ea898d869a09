"""Write a development `.env` if there is none, so every `manage.py` command works in this folder afterwards.

`make run` calls it. It never overwrites an existing `.env`, and refuses outside development (DEBUG off).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

HEADER = """\
# Development settings, written by `make run` because there was no .env (it never overwrites one).
# Every manage.py command run in this folder reads this file; a variable set in the environment wins.
# Not for production: there, DEBUG=0 and a SECRET_KEY of your own (see .env.example for every variable).
"""
# Variables of the environment `make run` ran with that later commands need to reach the same portal.
CARRIED = ("DATABASE_URL",)


def development_env(environ=os.environ) -> str:
    lines = [HEADER.rstrip("\n"), "DEBUG=1", f"SECRET_KEY={secrets.token_urlsafe(64)}"]
    lines += [f"{name}={environ[name]}" for name in CARRIED if environ.get(name)]
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Write a development .env (DEBUG=1, a generated SECRET_KEY) if none exists; never overwrites one."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=None, help="Where to write it (default: the project folder's .env).")

    def handle(self, *args, **options):
        path = Path(options["path"] or Path(settings.BASE_DIR) / ".env")
        if path.exists():
            self.stdout.write(f"{path.name}: kept as it is (an existing .env is never overwritten).")
            return
        if not settings.DEBUG:
            raise CommandError("dev_env writes a development .env (DEBUG=1): run it with DEBUG=1, never in production.")
        with open(path, "x") as env_file:  # "x": not even a .env created in the meantime is overwritten
            env_file.write(development_env())
        path.chmod(0o600)
        self.stdout.write(f"{path.name}: written for development (DEBUG=1, a new SECRET_KEY), so manage.py works here.")
