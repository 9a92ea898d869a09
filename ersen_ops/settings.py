"""Ersen Ops settings: everything that differs between machines comes from the environment.

See `.env.example` for every variable. A malformed value stops start-up with one
line naming the variable (see `ersen_ops/config.py`).
"""

from __future__ import annotations

import ipaddress as _ipaddress
import os as _os
import sys
from datetime import date as _date
from datetime import timedelta as _timedelta
from pathlib import Path

from csp import constants as _csp

from ersen_ops import config
from ersen_ops.config import ConfigError
from ersen_ops.core import roles as _roles
from ersen_ops.core.sso import policy as _sso_policy

BASE_DIR = Path(__file__).resolve().parent.parent
# OPS_ENV_FILE names another file (tests use it to show a folder without one).
_env_file = Path(_os.environ.get("OPS_ENV_FILE") or BASE_DIR / ".env")
if _env_file.exists():
    config.env.read_env(str(_env_file), overwrite=False)

_INSECURE_KEY = "dev-only-insecure-key-change-me"

try:
    DEBUG = config.boolean("DEBUG", False)
    SECRET_KEY = config.string("SECRET_KEY", "")
    if not SECRET_KEY or SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50:
        if not DEBUG:
            raise ConfigError(
                "SECRET_KEY: set a random value of at least 50 characters for production "
                "(or DEBUG=1 for local development)"
            )
        SECRET_KEY = SECRET_KEY or _INSECURE_KEY
    ALLOWED_HOSTS = config.str_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
    CSRF_TRUSTED_ORIGINS = config.str_list("CSRF_TRUSTED_ORIGINS", "")
    DATABASES = {"default": config.database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
    _email = config.email("EMAIL_URL", "consolemail://")
    REDIS_URL = config.string("REDIS_URL", "")
    SECURE_SSL_REDIRECT = config.boolean("SECURE_SSL_REDIRECT", not DEBUG)
    BEHIND_PROXY = config.boolean("BEHIND_PROXY", not DEBUG)
    HSTS_SECONDS = config.integer("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
    Q_WORKERS = config.integer("Q_WORKERS", 2, minimum=1, maximum=64)
    Q_TIMEOUT = config.integer("Q_TIMEOUT", 1800, minimum=10, maximum=86400)
    OPS_PHASE = config.choice("OPS_PHASE", "postlaunch", ("prelaunch", "postlaunch"))
    OPS_MAINTENANCE_TZ = config.string("OPS_MAINTENANCE_TZ", "America/Los_Angeles")
    OPS_EMAIL_FROM = config.string("OPS_EMAIL_FROM", "Ersen Ops <ops@ersen.xyz>")
    OPS_STATUS_PAGE_NAME = config.string("OPS_STATUS_PAGE_NAME", "Ersen")
    # The host:port `make run` serves on (it sets this from ADDR): the default of OPS_STATUS_PAGE_URL (links in
    # subscriber email, feeds) and the address the demo's smoke test checks. Set OPS_STATUS_PAGE_URL to override.
    OPS_RUN_ADDR = config.string("OPS_RUN_ADDR", "127.0.0.1:8000")
    OPS_STATUS_PAGE_URL = config.string("OPS_STATUS_PAGE_URL", config.url_of_addr(OPS_RUN_ADDR))
    # Ports of `make sandbox-host` (SANDBOX_SSH_PORT / SANDBOX_TLS_PORT in the Makefile): the demo host points there.
    OPS_SANDBOX_SSH_PORT = config.integer("OPS_SANDBOX_SSH_PORT", 2222, minimum=1, maximum=65535)
    OPS_SANDBOX_TLS_PORT = config.integer("OPS_SANDBOX_TLS_PORT", 8443, minimum=1, maximum=65535)
    # Public status page and Statuspage v2 API (statuspage/, over the records of ersen_ops.status).
    OPS_STATUS_PAGE_ID = config.string("OPS_STATUS_PAGE_ID", "ersen")
    OPS_STATUS_PAGE_TIME_ZONE = config.string("OPS_STATUS_PAGE_TIME_ZONE", OPS_MAINTENANCE_TZ)
    OPS_STATUS_CACHE_SECONDS = config.integer("OPS_STATUS_CACHE_SECONDS", 30, minimum=0, maximum=3600)
    # Each process learns of a new public status version by PostgreSQL LISTEN/NOTIFY (ersen_ops.status.version_push)
    # instead of reading it per request; off: one primary-key lookup per public request.
    OPS_STATUS_PUSH = config.boolean("OPS_STATUS_PUSH", True)
    # Uptime history (ersen_ops.status.uptime): daily rollups kept this long (the monthly SLA report reaches as far),
    # closed status intervals this long (only today's are read; older ones are rolled up).
    OPS_UPTIME_KEEP_DAYS = config.integer("OPS_UPTIME_KEEP_DAYS", 800, minimum=91, maximum=36500)
    OPS_UPTIME_INTERVAL_DAYS = config.integer("OPS_UPTIME_INTERVAL_DAYS", 35, minimum=3, maximum=3650)
    # Benchmark only (bench/status_load.py): a trivial JSON view at /bench/trivial.json, loopback hosts only.
    OPS_BENCH_TRIVIAL_VIEW = config.boolean("OPS_BENCH_TRIVIAL_VIEW", False)
    if OPS_BENCH_TRIVIAL_VIEW and set(ALLOWED_HOSTS) - {"localhost", "127.0.0.1", "[::1]"}:
        raise ConfigError(
            "OPS_BENCH_TRIVIAL_VIEW: benchmark-only switch; allowed only when ALLOWED_HOSTS lists loopback names alone"
        )
    OPS_TASK_MAX_DELIVERIES = config.integer("OPS_TASK_MAX_DELIVERIES", 3, minimum=1, maximum=20)
    OPS_MAINTENANCE_REMINDER_MINUTES = config.integer(
        "OPS_MAINTENANCE_REMINDER_MINUTES", 60, minimum=1, maximum=7 * 24 * 60
    )
    OPS_OWNER_MAY_SELF_APPROVE = config.boolean("OPS_OWNER_MAY_SELF_APPROVE", False)
    LOG_LEVEL = config.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error"))
    # Notification channels (secrets: read only from the environment, never stored or logged).
    OPS_EMAIL_TO = config.str_list("OPS_EMAIL_TO", "")
    DISCORD_WEBHOOK_URL = config.string("DISCORD_WEBHOOK_URL", "")
    SLACK_WEBHOOK_URL = config.string("SLACK_WEBHOOK_URL", "")
    SLACK_TEAM_OPS_WEBHOOK_URL = config.string("SLACK_TEAM_OPS_WEBHOOK_URL", "")
    PAGER_WEBHOOK_URL = config.string("PAGER_WEBHOOK_URL", "")
    PAGER_ROUTING_KEY = config.string("PAGER_ROUTING_KEY", "")
    _retry_delays = config.str_list("OPS_NOTIFY_RETRY_DELAYS", "30,60,120,300,600,900")
    if not _retry_delays or not all(d.isdigit() for d in _retry_delays):
        raise ConfigError(
            f"OPS_NOTIFY_RETRY_DELAYS: expected comma-separated seconds such as 30,60,120, got {','.join(_retry_delays)!r}"
        )
    OPS_NOTIFY_RETRY_DELAYS = [int(d) for d in _retry_delays]
    OPS_NOTIFY_CONNECT_TIMEOUT = config.integer("OPS_NOTIFY_CONNECT_TIMEOUT", 5, minimum=1, maximum=60)
    OPS_NOTIFY_READ_TIMEOUT = config.integer("OPS_NOTIFY_READ_TIMEOUT", 15, minimum=1, maximum=300)
    OPS_NOTIFY_INLINE_WAIT = config.integer("OPS_NOTIFY_INLINE_WAIT", 5, minimum=0, maximum=60)
    # Internal networks outgoing webhooks may reach anyway (CIDRs); everything internal is refused by default.
    OPS_WEBHOOK_ALLOW_NETWORKS = config.str_list("OPS_WEBHOOK_ALLOW_NETWORKS", "")
    for _network in OPS_WEBHOOK_ALLOW_NETWORKS:
        try:
            _ipaddress.ip_network(_network.strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"OPS_WEBHOOK_ALLOW_NETWORKS: {_network!r} is not a network such as 10.20.0.0/16 or fd12::/64"
            ) from None
    # Incidents: the sprint calendar behind "normal sprint" (P3) and "next sprint" (P4), and the P1 re-page interval.
    _sprint_start = config.string("OPS_SPRINT_START", "2026-01-05")
    try:
        OPS_SPRINT_START = _date.fromisoformat(_sprint_start.strip())
    except ValueError:
        raise ConfigError(f"OPS_SPRINT_START: expected a date like 2026-01-05, got {_sprint_start!r}") from None
    OPS_SPRINT_DAYS = config.integer("OPS_SPRINT_DAYS", 14, minimum=1, maximum=90)
    OPS_P1_REPAGE_MINUTES = config.integer("OPS_P1_REPAGE_MINUTES", 5, minimum=1, maximum=120)
    # Runbooks: the SSH private key comes from a file or the SSH agent, never from the database.
    OPS_SSH_KEY_FILE = config.string("OPS_SSH_KEY_FILE", "")
    OPS_SSH_CONNECT_TIMEOUT = config.integer("OPS_SSH_CONNECT_TIMEOUT", 10, minimum=1, maximum=60)
    OPS_BACKUP_DIR = config.string("OPS_BACKUP_DIR", "/var/backups/ersen")
    # Backup retention (grandfather-father-son; runbooks.policy.backup_retention) and freshness.
    OPS_BACKUP_KEEP_DAILY = config.integer("OPS_BACKUP_KEEP_DAILY", 7, minimum=0, maximum=3650)
    OPS_BACKUP_KEEP_WEEKLY = config.integer("OPS_BACKUP_KEEP_WEEKLY", 4, minimum=0, maximum=520)
    OPS_BACKUP_KEEP_MONTHLY = config.integer("OPS_BACKUP_KEEP_MONTHLY", 12, minimum=0, maximum=1200)
    OPS_BACKUP_MAX_AGE_HOURS = config.integer("OPS_BACKUP_MAX_AGE_HOURS", 26, minimum=1, maximum=24 * 31)
    OPS_RUNBOOK_STEP_TIMEOUT = config.integer("OPS_RUNBOOK_STEP_TIMEOUT", 300, minimum=5, maximum=86400)
    OPS_RUNBOOK_LOST_AFTER = config.integer("OPS_RUNBOOK_LOST_AFTER", 30, minimum=10, maximum=3600)
    # Scheduler: a due time the tick (every minute) sees later than this was missed (the worker was down); default
    # two tick intervals + 60 s, as django-q's scheduler looks at its schedules about every 30 s.
    OPS_SCHEDULE_GRACE_SECONDS = config.integer("OPS_SCHEDULE_GRACE_SECONDS", 180, minimum=1, maximum=86400)
    # Seconds the worker keeps retrying a short database write after the connection drops (then it gives up).
    OPS_DB_RETRY_SECONDS = config.integer("OPS_DB_RETRY_SECONDS", 30, minimum=1, maximum=600)
    # Subscribers: the public subscribe form (double opt-in, rate limits) and the email/webhook fan-out.
    OPS_SUBSCRIBE_CONFIRM_HOURS = config.integer("OPS_SUBSCRIBE_CONFIRM_HOURS", 48, minimum=1, maximum=14 * 24)
    OPS_SUBSCRIBE_LIMIT_PER_ADDRESS = config.integer("OPS_SUBSCRIBE_LIMIT_PER_ADDRESS", 3, minimum=1, maximum=100)
    OPS_SUBSCRIBE_LIMIT_PER_IP = config.integer("OPS_SUBSCRIBE_LIMIT_PER_IP", 20, minimum=1, maximum=100_000)
    OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES = config.integer(
        "OPS_SUBSCRIBE_LIMIT_WINDOW_MINUTES", 60, minimum=1, maximum=24 * 60
    )
    OPS_SUBSCRIBE_PENDING_DAYS = config.integer("OPS_SUBSCRIBE_PENDING_DAYS", 7, minimum=1, maximum=365)
    OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER = config.integer(
        "OPS_SUBSCRIBER_WEBHOOK_DISABLE_AFTER", 10, minimum=1, maximum=1000
    )
    OPS_SUBSCRIBER_FANOUT_CHUNK = config.integer("OPS_SUBSCRIBER_FANOUT_CHUNK", 500, minimum=1, maximum=5000)
    # The first email chunk of a notice is this small and is delivered by the notice's own task, right after its
    # commit, before the other chunks are queued: the first subscribers hear within a second (0: no such chunk).
    OPS_SUBSCRIBER_FIRST_CHUNK = config.integer("OPS_SUBSCRIBER_FIRST_CHUNK", 20, minimum=0, maximum=5000)
    # Subscriber deliveries are kept this long, then reduced to counts per notice (subscribers.sweep_deliveries).
    OPS_SUBSCRIBER_DELIVERY_DAYS = config.integer("OPS_SUBSCRIBER_DELIVERY_DAYS", 30, minimum=1, maximum=3650)
    # Subscriber webhooks POSTed at the same time by one send task.
    OPS_NOTIFY_WEBHOOK_CONCURRENCY = config.integer("OPS_NOTIFY_WEBHOOK_CONCURRENCY", 8, minimum=1, maximum=64)
    # Deliveries one send task carries (one SMTP connection for the emails among them; webhooks concurrently).
    OPS_NOTIFY_SEND_BATCH = config.integer("OPS_NOTIFY_SEND_BATCH", 500, minimum=1, maximum=5000)
    # Sender of subscriber email (empty: OPS_EMAIL_FROM), e.g. "Ersen Status <status@ersen.xyz>".
    OPS_SUBSCRIBER_EMAIL_FROM = config.string("OPS_SUBSCRIBER_EMAIL_FROM", "")
    # Login lockout (django-axes): failures per username and, separately, per client address.
    OPS_LOGIN_MAX_FAILURES = config.integer("OPS_LOGIN_MAX_FAILURES", 5, minimum=1, maximum=100)
    OPS_LOGIN_COOLOFF_MINUTES = config.integer("OPS_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
    # Audit log: the chain's head is appended to a witness file outside the database (ersen_ops.audit.witness).
    OPS_AUDIT_CHECKPOINT_MINUTES = config.integer("OPS_AUDIT_CHECKPOINT_MINUTES", 5, minimum=1, maximum=24 * 60)
    OPS_AUDIT_WITNESS_FILE_DEFAULT = str(BASE_DIR / "var" / "audit-witness.log")
    OPS_AUDIT_WITNESS_FILE = str(
        BASE_DIR / (config.string("OPS_AUDIT_WITNESS_FILE", "").strip() or OPS_AUDIT_WITNESS_FILE_DEFAULT)
    )
    # Health checks (checks/, README "Health checks"): raw results kept this many days, then only the rollups.
    OPS_CHECK_RAW_DAYS = config.integer("OPS_CHECK_RAW_DAYS", 2, minimum=1, maximum=90)
    OPS_CHECK_HOURLY_DAYS = config.integer("OPS_CHECK_HOURLY_DAYS", 35, minimum=1, maximum=400)
    OPS_CHECK_DAILY_DAYS = config.integer("OPS_CHECK_DAILY_DAYS", 400, minimum=30, maximum=3650)
    # Passes of every check of a window's components that prove "Test core functionality" / "Smoke test".
    OPS_CHECK_EVIDENCE_PASSES = config.integer("OPS_CHECK_EVIDENCE_PASSES", 3, minimum=1, maximum=100)
    # Extra CA certificates (PEM file) the checker trusts besides the system's, e.g. an internal CA.
    OPS_CHECK_CA_BUNDLE = config.string("OPS_CHECK_CA_BUNDLE", "")
    # Single sign-on with an OpenID Connect provider (README "Access" → "SSO"); no issuer: no SSO button.
    OPS_OIDC_ISSUER = config.string("OPS_OIDC_ISSUER", "").rstrip("/")
    OPS_OIDC_CLIENT_ID = config.string("OPS_OIDC_CLIENT_ID", "")
    OPS_OIDC_CLIENT_SECRET = config.string("OPS_OIDC_CLIENT_SECRET", "")  # secret: only from the environment
    OPS_OIDC_NAME = config.string("OPS_OIDC_NAME", "SSO")
    OPS_OIDC_SCOPES = config.str_list("OPS_OIDC_SCOPES", "openid,profile,email,groups")
    OPS_OIDC_GROUPS_CLAIM = config.string("OPS_OIDC_GROUPS_CLAIM", "groups")
    OPS_OIDC_TRUST_IDP_MFA = config.choice("OPS_OIDC_TRUST_IDP_MFA", "amr", _sso_policy.TRUST_IDP_MFA_CHOICES)
    OPS_OIDC_MFA_AMR = config.str_list("OPS_OIDC_MFA_AMR", ",".join(_sso_policy.DEFAULT_MFA_AMR))
    OPS_SSO_ONLY = config.boolean("OPS_SSO_ONLY", False)
    OPS_SSO_BREAK_GLASS_USERS = config.str_list("OPS_SSO_BREAK_GLASS_USERS", "")
    OPS_SSO_ACCESS_CONTACT = config.string("OPS_SSO_ACCESS_CONTACT", "an Ersen Ops superuser")
    try:
        OPS_OIDC_ROLE_MAP = _sso_policy.parse_role_map(
            config.string("OPS_OIDC_ROLE_MAP", ""), _roles.ROLE_PERMISSIONS.keys()
        )
    except _sso_policy.RoleMapError as exc:
        raise ConfigError(f"OPS_OIDC_ROLE_MAP: {exc}") from None
    if OPS_OIDC_ISSUER:
        if not OPS_OIDC_ISSUER.startswith(("https://", "http://")):
            raise ConfigError(f"OPS_OIDC_ISSUER: expected the provider's https:// URL, got {OPS_OIDC_ISSUER!r}")
        if OPS_OIDC_ISSUER.startswith("http://") and not DEBUG:
            raise ConfigError("OPS_OIDC_ISSUER: must be https:// in production (tokens and secrets travel to it)")
        for _name, _value in (
            ("OPS_OIDC_CLIENT_ID", OPS_OIDC_CLIENT_ID),
            ("OPS_OIDC_CLIENT_SECRET", OPS_OIDC_CLIENT_SECRET),
        ):
            if not _value:
                raise ConfigError(
                    f"{_name}: required when OPS_OIDC_ISSUER is set (from the provider's client registration)"
                )
        if not OPS_OIDC_ROLE_MAP:
            raise ConfigError(
                "OPS_OIDC_ROLE_MAP: required when OPS_OIDC_ISSUER is set (e.g. ops-admins=Operators); "
                "without it no SSO user gets a role"
            )
        if "openid" not in OPS_OIDC_SCOPES:
            raise ConfigError(f"OPS_OIDC_SCOPES: must include openid, got {','.join(OPS_OIDC_SCOPES)!r}")
    if OPS_SSO_ONLY and not OPS_OIDC_ISSUER:
        raise ConfigError("OPS_SSO_ONLY: needs OPS_OIDC_ISSUER (otherwise nobody but break-glass users could log in)")
    # Access (README "Access"): who needs a second factor, re-authentication before production actions, sessions.
    OPS_MFA_REQUIRED_GROUPS = config.str_list("OPS_MFA_REQUIRED_GROUPS", "Operators,Approvers,Incident commanders")
    _unknown_roles = [g for g in OPS_MFA_REQUIRED_GROUPS if g not in _roles.ROLE_PERMISSIONS]
    if _unknown_roles:
        raise ConfigError(
            f"OPS_MFA_REQUIRED_GROUPS: unknown role {_unknown_roles[0]!r}; the roles are "
            f"{', '.join(_roles.ROLE_PERMISSIONS)}"
        )
    OPS_REAUTH_MINUTES = config.integer("OPS_REAUTH_MINUTES", 10, minimum=1, maximum=24 * 60)
    OPS_SESSION_MAX_HOURS = config.integer("OPS_SESSION_MAX_HOURS", 12, minimum=1, maximum=24 * 30)
    OPS_SESSION_IDLE_MINUTES = config.integer("OPS_SESSION_IDLE_MINUTES", 60, minimum=1, maximum=24 * 60)
    if OPS_SESSION_IDLE_MINUTES > OPS_SESSION_MAX_HOURS * 60:
        raise ConfigError(
            f"OPS_SESSION_IDLE_MINUTES: must be at most OPS_SESSION_MAX_HOURS × 60 "
            f"({OPS_SESSION_MAX_HOURS * 60}), got {OPS_SESSION_IDLE_MINUTES}"
        )
    # Operations API (README "Operations API"): personal access tokens and per-token rate limits.
    OPS_API_TOKEN_MAX_DAYS = config.integer("OPS_API_TOKEN_MAX_DAYS", 365, minimum=1, maximum=3650)
    OPS_API_RATE_LIMIT = config.integer("OPS_API_RATE_LIMIT", 120, minimum=1, maximum=1_000_000)
    OPS_API_RATE_WINDOW_SECONDS = config.integer("OPS_API_RATE_WINDOW_SECONDS", 60, minimum=1, maximum=3600)
    OPS_API_IDEMPOTENCY_HOURS = config.integer("OPS_API_IDEMPOTENCY_HOURS", 24, minimum=1, maximum=24 * 30)
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")

try:
    import zoneinfo

    zoneinfo.ZoneInfo(OPS_MAINTENANCE_TZ)
except Exception:
    sys.exit(f"Configuration error: OPS_MAINTENANCE_TZ: unknown time zone {OPS_MAINTENANCE_TZ!r}")
try:
    zoneinfo.ZoneInfo(OPS_STATUS_PAGE_TIME_ZONE)
except Exception:
    sys.exit(f"Configuration error: OPS_STATUS_PAGE_TIME_ZONE: unknown time zone {OPS_STATUS_PAGE_TIME_ZONE!r}")

INSTALLED_APPS = [
    "ersen_ops.core",  # first: its admin site and templates override Django's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Login for the admin (see the "Access" section of the README and ersen_ops/core/access/).
    "allauth",
    "allauth.account",
    "axes",  # login lockout (see "Login throttling" below)
    "allauth.mfa",
    "allauth.usersessions",
    "django.contrib.humanize",  # allauth.mfa's security key list
    "corsheaders",
    "django_q",
    "ersen_ops.audit",
    "ersen_ops.notifications",
    "ersen_ops.status",
    "maintenance",
    "incidents",
    "runbooks",
    "subscribers",
    "alerting",  # alert intake from Alertmanager and Grafana: above incidents and maintenance
    "statuspage",  # the public page, API, feeds, calendar: reads status and the domain apps
    "rest_framework",  # the operations API (api/, README "Operations API")
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "api",
    "scheduler",  # scheduled runbook runs that obey the protocol: above runbooks and maintenance
    "checks",  # health checks and the checker process: above incidents and maintenance
    "controlroom",  # the admin index spanning every app (top layer)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (see "Security" below).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ersen_ops.core.middleware.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ersen_ops.core.timezones.OperatorTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "ersen_ops.core.access.sessions.SessionLimitsMiddleware",
    "ersen_ops.core.access.middleware.SecondFactorMiddleware",
    # Last: turns a lockout found during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ersen_ops.urls"
WSGI_APPLICATION = "ersen_ops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ersen_ops.core.access.context_processors.access",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A web process and a worker write at once: WAL lets readers continue, the busy
    # timeout waits instead of failing, IMMEDIATE takes the write lock up front so
    # a transaction never upgrades (and deadlocks) half-way.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )
else:
    _db.setdefault("OPTIONS", {})
    if config.boolean("DATABASE_POOL", False):
        # Django's psycopg pool; incompatible with persistent connections.
        _db["OPTIONS"]["pool"] = True
        _db["CONN_MAX_AGE"] = 0
    else:
        _db["CONN_MAX_AGE"] = config.integer("CONN_MAX_AGE", 60, minimum=0)
        _db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ------------------------------------------------------------------
vars().update(_email)
DEFAULT_FROM_EMAIL = OPS_EMAIL_FROM
SERVER_EMAIL = OPS_EMAIL_FROM

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"  # links out of the portal carry no path, query or token
# CSP (django-csp 4): scripts only from our own static files (a nonce for a page that truly needs an
# inline script: <script nonce="{{ request.csp_nonce }}">), no plugins, no <base> tricks, never framed
# (nothing embeds the portal: Statuspage widgets read the JSON API, which CORS opens). Styles may be
# inline: the admin's own templates and ours use style attributes, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_csp.SELF],
        "script-src": [_csp.SELF, _csp.NONCE],
        "style-src": [_csp.SELF, _csp.UNSAFE_INLINE],
        "img-src": [_csp.SELF, "data:"],
        "font-src": [_csp.SELF],
        "connect-src": [_csp.SELF],
        "object-src": [_csp.NONE],
        "base-uri": [_csp.SELF],
        "frame-ancestors": [_csp.NONE],
    }
}
# Permissions-Policy: no sensors, camera, microphone, payment or device access for any page; WebAuthn
# (the second factor) stays allowed for the portal itself.
PERMISSIONS_POLICY = {
    **{
        feature: []
        for feature in (
            "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "hid", "magnetometer",
            "microphone", "midi", "payment", "serial", "usb", "browsing-topics",
        )
    },
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}  # fmt: skip
SECURE_HSTS_SECONDS = HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = HSTS_SECONDS > 0
if BEHIND_PROXY:
    # Traefik terminates TLS and sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Access: django-allauth for the admin's login (README "Access") ------------
# Accounts are made by superusers in the user admin: signup is closed (the adapter), no email verification.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_ADAPTER = "ersen_ops.core.access.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True  # no "remember me" box: the session limits decide how long a login lasts
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = OPS_REAUTH_MINUTES * 60
# Sessions: at most OPS_SESSION_MAX_HOURS from login, OPS_SESSION_IDLE_MINUTES idle (ersen_ops.core.access.sessions);
# the cookie does not outlive the first.
SESSION_COOKIE_AGE = OPS_SESSION_MAX_HOURS * 3600
# Second factor (allauth.mfa): authenticator apps, security keys / passkeys, one-time recovery codes.
# Required for superusers and OPS_MFA_REQUIRED_GROUPS (ersen_ops.core.access.middleware).
MFA_ADAPTER = "ersen_ops.core.access.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "Ersen Ops"
# Accept the code of the step before or after too (RFC 6238's clock-drift allowance): a code typed in the last
# seconds of its step still works; a used code stays refused for all three steps (allauth).
MFA_TOTP_TOLERANCE = 1
MFA_ALLOW_UNVERIFIED_EMAIL = True  # email is not how anyone logs in here; accounts are made by superusers
# Codes are throttled like passwords (OPS_LOGIN_MAX_FAILURES per OPS_LOGIN_COOLOFF_MINUTES, per user), counted in
# the shared cache below (ersen_ops.core.access.forms); allauth refuses a code replayed inside its step (same cache).
MFA_FORMS = {
    "authenticate": "ersen_ops.core.access.forms.ThrottledAuthenticateForm",
    "reauthenticate": "ersen_ops.core.access.forms.ThrottledReauthenticateForm",
}

# --- Cache: shared by every web process (rate-limit counts, used TOTP codes) -------------------
# The database (table created by `migrate`, see ersen_ops.core.apps), or Redis when REDIS_URL is set.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "ersen"}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "ersen_cache"}}

# --- Login throttling: django-axes, counted in the database (all workers and machines share it) ----------
# A lockout per username and, separately, per client address (the same client_ip() as subscriber rate limits)
# after OPS_LOGIN_MAX_FAILURES failures, for OPS_LOGIN_COOLOFF_MINUTES after the failure that locked it.
# First: refuses a locked-out login before any password is checked (allauth passes the request through).
AUTHENTICATION_BACKENDS = ["ersen_ops.core.accounts.lockout.LockoutBackend", *AUTHENTICATION_BACKENDS]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = OPS_LOGIN_MAX_FAILURES
AXES_COOLOFF_TIME = _timedelta(minutes=OPS_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "ersen_ops.core.clients.request_client_ip"
AXES_USERNAME_CALLABLE = "ersen_ops.core.accounts.lockout.attempted_username"
AXES_LOCKOUT_CALLABLE = "ersen_ops.core.accounts.views.lockout_response"
# Attempts while locked neither extend the lockout (the page's "try again" time stays true) nor count again.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the failures: one known account must not reset an address's count for the others.
AXES_RESET_ON_SUCCESS = False
# The audit log is the record of logins; the lockouts have their own superuser-only admin (core.accounts).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_SENSITIVE_PARAMETERS = ["username", "login", "ip_address", "code", "token"]
# django-axes is the one count of failed logins (database, shared). allauth's own count lives in each process's
# cache and would answer the 6th attempt first, with a form error instead of the lockout page: switched off.
ACCOUNT_RATE_LIMITS = {**globals().get("ACCOUNT_RATE_LIMITS", {}), "login_failed": None}

# --- CORS: only the public status API, read-only, no credentials ------------
CORS_URLS_REGEX = r"^/api/(v2/.*|uptime\.json)$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]

# --- Single sign-on: allauth's OpenID Connect provider, hardened (ersen_ops/core/sso, README "Access" → "SSO") ---
INSTALLED_APPS += ["allauth.socialaccount", "allauth.socialaccount.providers.openid_connect"]
SOCIALACCOUNT_ADAPTER = "ersen_ops.core.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = _sso_policy.allauth_providers(
    issuer=OPS_OIDC_ISSUER,
    client_id=OPS_OIDC_CLIENT_ID,
    secret=OPS_OIDC_CLIENT_SECRET,
    name=OPS_OIDC_NAME,
    scopes=OPS_OIDC_SCOPES,
)
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # matched by the provider's subject, never by an email address
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False  # the portal never calls the provider on a user's behalf
SOCIALACCOUNT_LOGIN_ON_GET = False  # a login starts with a POST from our login page, never from a link elsewhere
# OPS_SSO_ONLY: password logins are refused (except break-glass superusers) before any password is checked.
AUTHENTICATION_BACKENDS = [
    "ersen_ops.core.sso.backends.SSOOnlyModelBackend" if b == "django.contrib.auth.backends.ModelBackend" else b
    for b in AUTHENTICATION_BACKENDS
]

# --- django-q2 --------------------------------------------------------------
# Correctness over defaults (see shared/reference/stack-notes.md):
# timeout < retry so a running task is never delivered twice; failures are
# acknowledged and attempts capped so nothing repeats forever; a task whose
# worker keeps dying is given up by ersen_ops.core.queue after
# OPS_TASK_MAX_DELIVERIES deliveries.
Q_CLUSTER = {
    "name": "ersen_ops",
    "workers": Q_WORKERS,
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 0.1,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Logging: one line per record, secrets never formatted in -------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL.upper()},
    "loggers": {
        # django-q2 logs every processed task at INFO under the name "django-q".
        "django-q": {"level": "WARNING" if LOG_LEVEL != "debug" else "DEBUG"},
        "paramiko": {"level": "WARNING"},
        # django-axes logs every attempt at INFO; failures and lockouts (WARNING) are enough, and are audited.
        "axes": {"level": "WARNING" if LOG_LEVEL != "debug" else "DEBUG"},
    },
}

# --- Operations API (api/): REST framework + drf-spectacular ------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.authentication.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ersen Ops operations API",
    "DESCRIPTION": (
        "Maintenance windows, incidents, runbook executions, components, audit events and deliveries. "
        "Authenticate with a personal access token: `Authorization: Bearer ersen_…` (create one in the admin, "
        "“My account” → API tokens). Errors are RFC 9457 problem details; POSTs honour `Idempotency-Key`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/ops/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several apps name their lifecycle field "status": one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "ComponentStatusEnum": "ersen_ops.status.choices.ComponentStatus",
        "WindowStatusEnum": "maintenance.choices.WindowStatus",
        "IncidentStatusEnum": "incidents.choices.IncidentStatus",
        "ExecutionStatusEnum": "runbooks.choices.ExecutionStatus",
        "StepStatusEnum": "runbooks.choices.StepStatus",
        "DeliveryStatusEnum": "ersen_ops.notifications.choices.DeliveryStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_problem_responses",
    ],
}
