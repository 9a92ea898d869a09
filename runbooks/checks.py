"""Checks run from the portal (not on the host): the site's TLS certificate and HTTP smoke checks.

Each returns a plain dict `{"ok": bool, "message": str, ...details}`; the message says what was
found in an operator's words ("certificate expires in 6.2 days; the threshold is 14").
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests


def _tls_once(host: str, port: int, *, cafile: str | None, timeout: float, min_days: int, now: datetime) -> dict:
    context = ssl.create_default_context(cafile=cafile)
    base = {"host": host, "port": port, "cafile": cafile or ""}
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                cert = tls.getpeercert()
                version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        return {
            **base,
            "ok": False,
            "reason": "untrusted",
            "message": f"certificate of {host}:{port} not accepted: {reason}",
        }
    except ssl.SSLError as exc:
        return {
            **base,
            "ok": False,
            "reason": "tls_error",
            "message": f"TLS handshake with {host}:{port} failed: {exc.reason or exc}",
        }
    except FileNotFoundError:
        return {**base, "ok": False, "reason": "cafile", "message": f"CA file {cafile} does not exist on the portal"}
    except OSError as exc:
        return {
            **base,
            "ok": False,
            "reason": "connect",
            "message": f"could not connect to {host}:{port}: {exc.strerror or exc}",
        }
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), tz=UTC)
    days = (expires - now).total_seconds() / 86400
    issuer = dict(item[0] for item in cert.get("issuer", ()) if item)
    details = {
        **base,
        "expires_at": expires.isoformat(),
        "days_left": round(days, 1),
        "issuer": issuer.get("organizationName") or issuer.get("commonName", ""),
        "tls_version": version,
    }
    if days < min_days:
        return {
            **details,
            "ok": False,
            "reason": "expiring",
            "message": f"certificate of {host} expires in {days:.1f} days ({expires:%Y-%m-%d %H:%M} UTC); "
            f"the threshold is {min_days} days",
        }
    return {
        **details,
        "ok": True,
        "reason": "",
        "message": f"certificate of {host} is trusted, matches the host name and expires in {days:.0f} days "
        f"({expires:%Y-%m-%d} UTC)",
    }


def tls_check(
    url: str,
    *,
    min_days: int,
    cafile: str | None = None,
    wait_seconds: float = 0,
    timeout: float = 5,
    keep_going: Callable[[], bool] = lambda: True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict:
    """Check the certificate served at `url`; retry for `wait_seconds` (a restarting proxy serves a default cert)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    deadline = time.monotonic() + wait_seconds
    attempts = 0
    while True:
        attempts += 1
        outcome = _tls_once(host, port, cafile=cafile, timeout=timeout, min_days=min_days, now=now())
        if outcome["ok"] or outcome["reason"] == "cafile" or time.monotonic() >= deadline or not keep_going():
            outcome["attempts"] = attempts
            if not outcome["ok"] and attempts > 1:
                outcome["message"] += f" (after {attempts} attempts over {wait_seconds:.0f} s)"
            return outcome
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def http_check(url: str, *, expected_status: int, timeout: float = 10, cafile: str | None = None) -> dict:
    started = time.monotonic()
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False, verify=cafile or True)
    except requests.exceptions.SSLError as exc:
        return {
            "ok": False,
            "url": url,
            "expected": expected_status,
            "status": None,
            "message": f"GET {url}: TLS error: {_short(exc)}",
        }
    except requests.exceptions.Timeout:
        return {
            "ok": False,
            "url": url,
            "expected": expected_status,
            "status": None,
            "message": f"GET {url}: no answer within {timeout:g} s",
        }
    except requests.exceptions.RequestException as exc:
        return {
            "ok": False,
            "url": url,
            "expected": expected_status,
            "status": None,
            "message": f"GET {url}: could not connect: {_short(exc)}",
        }
    elapsed_ms = round((time.monotonic() - started) * 1000)
    ok = response.status_code == expected_status
    message = (
        f"GET {url} answered {response.status_code} in {elapsed_ms} ms"
        if ok
        else f"GET {url} answered {response.status_code}, expected {expected_status}"
    )
    return {
        "ok": ok,
        "url": url,
        "expected": expected_status,
        "status": response.status_code,
        "elapsed_ms": elapsed_ms,
        "message": message,
    }


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:297] + "…"
