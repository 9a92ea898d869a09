"""Reading settings from the environment with one-line, operator-readable errors.

django-environ does the parsing; this module turns its exceptions (and our own
range checks) into `ConfigError("NAME: what is wrong")`, which settings.py
prints as a single line before exiting. No traceback for a typo in `.env`.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import environ


class ConfigError(Exception):
    """A setting from the environment is missing or malformed."""


env = environ.Env()


def _wrap(name: str, reader, *args, **kwargs):
    try:
        return reader(name, *args, **kwargs)
    except ConfigError:
        raise
    except Exception as exc:  # environ raises ValueError, ImproperlyConfigured, …
        raw = os.environ.get(name, "")
        shown = raw if len(raw) < 60 and "://" not in raw else "<value not shown>"
        raise ConfigError(f"{name}: cannot read {shown!r}: {exc}") from None


def string(name: str, default: str = "") -> str:
    return _wrap(name, env.str, default=default)


def boolean(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected true/false (or 1/0), got {raw!r}")


def integer(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
    return value


def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = string(name, default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def str_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in string(name, default).split(",") if item.strip()]


def database(name: str, default: str) -> dict:
    url = string(name, default)
    scheme = urlparse(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ConfigError(f"{name}: unsupported scheme {scheme!r}; use sqlite:///path or postgres://user@host:port/db")
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:
        raise ConfigError(f"{name}: cannot parse the database URL: {exc}") from None
    return config


def email(name: str, default: str) -> dict:
    try:
        return environ.Env.email_url_config(string(name, default))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{name}: cannot parse the email URL: {exc}") from None


def url_of_addr(addr: str) -> str:
    """'127.0.0.1:8101' → 'http://127.0.0.1:8101'; a bare port or a wildcard host is reached on 127.0.0.1."""
    addr = (addr or "").strip()
    if "://" in addr:
        return addr.rstrip("/")
    host, sep, port = addr.rpartition(":")
    if not sep:  # runserver accepts a bare port too
        host, port = "", addr
    if host in ("", "0.0.0.0", "[::]", "0"):
        host = "127.0.0.1"
    return f"http://{host}:{port}" if port else f"http://{host}"
