"""Shared fixtures. Tests that need an external program skip without it, except under CI=true, where they fail."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str):
    """Skip locally; fail under CI=true (a missing program in CI is a broken pipeline, not a pass)."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite in two pytest-xdist workers with `--dist loadgroup`: every test that starts real
    processes (marked `slow`: sshd, qcluster, Chromium, the OIDC provider) in one group, so they run one at a time
    as before and never compete with each other for the two cores, and every other test with the rest of its
    file (a module's fixed paths and module fixtures stay in one worker). Without xdist the marks do nothing."""
    for item in items:
        group = "processes" if item.get_closest_marker("slow") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


def require_program(name: str, path: str | None = None) -> str:
    found = path if path and os.path.exists(path) else shutil.which(name)
    if not found:
        missing(f"program {name!r} is not installed")
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end connections that worker threads/processes left behind
    (PostgreSQL refuses to drop a database in use, which would break the next run's --create-db)."""
    yield
    if connection.vendor == "postgresql":
        # A test may have terminated this very connection (database-drop tests): start from a fresh one.
        connection.close()
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session", autouse=True)
def _flush_passes_the_audit_truncate_trigger():
    """Django's flush (between transactional tests) TRUNCATEs every table, which the audit table's trigger
    refuses. As the table's owner, the test flush lifts that one trigger inside its own transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    operations = type(connection.ops)
    original = operations.sql_flush
    trigger = "ALTER TABLE audit_auditevent {} TRIGGER audit_auditevent_no_truncate"

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if statements and "audit_auditevent" in tables:
            statements = [trigger.format("DISABLE"), *statements, trigger.format("ENABLE")]
        return statements

    operations.sql_flush = sql_flush
    yield
    operations.sql_flush = original


@pytest.fixture
def postgres(db):
    """Marks a test as PostgreSQL-only."""
    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def transactional_postgres(transactional_db):
    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def client():
    """Django's test client whose force_login() also passes the second factor as allauth records it
    (tests/access.py); enforcement stays on."""
    from tests.access import Client

    return Client()


@pytest.fixture
def users(db):
    """One user per role, plus a superuser."""
    from tests.factories import make_role_users

    return make_role_users()


# Process fixtures (sshd sandbox host, qcluster worker, OIDC provider), defined once for every test package.
from tests.processes import (  # noqa: E402,F401
    extra_sandboxes,
    fleet,
    idp,
    oidc_provider,
    sandbox,
    sandbox_host,
    ssh_key,
    worker,
)
from tests.sso import sso  # noqa: E402,F401
