"""What several benchmarks share: their own PostgreSQL database, migrated, and Django set up in this process.

Not a benchmark itself (run_all.py skips files whose name starts with "_").
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def ensure_database(database_url: str, fresh: bool) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    print(f"dropped database {name}")


def migrate(env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)


def setup_django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def django_env(database_url: str, **overrides: str) -> dict:
    """This process's environment plus what a benchmark's Django needs: its database, a fresh secret key, the
    project's settings, quiet logs, an audit witness file of this run's own (a benchmark recreates its database, so
    the repository's witness would report the log "shorter than its witness"); `overrides` on top (e.g. DEBUG="0"
    and the hosts for production settings)."""
    import tempfile

    env = dict(os.environ)
    name = database_url.rstrip("/").rsplit("/", 1)[-1]
    env.update(
        DATABASE_URL=database_url,
        OPS_AUDIT_WITNESS_FILE=os.path.join(tempfile.gettempdir(), f"ersen-bench-witness-{name}-{os.getpid()}.log"),
        DEBUG="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_SETTINGS_MODULE="ersen_ops.settings",
        LOG_LEVEL="warning",
    )
    env.update(overrides)
    return env


def stop_process_group(proc: subprocess.Popen, *, timeout: float = 30) -> None:
    """Stop a process started with `start_new_session=True` (a qcluster: it stops its own workers on SIGTERM), then
    kill whatever of its process group is left."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
