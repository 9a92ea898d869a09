"""Test settings: the production settings module, with test-only environment defaults.

Anything the environment sets (DATABASE_URL in CI) wins over these defaults.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 48)
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("BEHIND_PROXY", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
# The tests' receivers listen on loopback: allow it (a test that shows the refusal clears the setting).
os.environ.setdefault("OPS_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
# The audit witness of a test run is a throwaway file (tests that look at it point it at their own tmp_path).
os.environ.setdefault(
    "OPS_AUDIT_WITNESS_FILE", os.path.join(tempfile.gettempdir(), f"ersen_ops_test_witness_{os.getpid()}.log")
)

from ersen_ops.settings import *  # noqa: E402,F403
from ersen_ops.settings import STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests

# Tests that start a real worker process need a database that process can open:
# on SQLite the test database is a file (per test run), never in-memory.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"].setdefault("TEST", {}).setdefault(  # noqa: F405
        "NAME", os.path.join(tempfile.gettempdir(), f"ersen_ops_test_{os.getpid()}.sqlite3")
    )
# No status-version listener thread by default: it would hold a connection to the test database (which then cannot be
# dropped) and tests change the status inside transactions. tests/status/test_version_push.py turns it on.
OPS_STATUS_PUSH = False
