"""The checks' contact with the outside world: async probes (HTTP(S) with httpx, TCP, TLS), no database.

Each probe takes a `ProbeSpec` (a snapshot of the check's settings, taken when the checker claimed it) and returns a
`ProbeOutcome`, with the failure in words (checks.policy). It never raises: whatever goes wrong is a failed result.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpx
from cryptography import x509

from . import policy
from .choices import CheckType

BODY_LIMIT = 1_000_000  # bytes of a body that are searched (the rest is not read)
REDIRECT_CODES = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class ProbeSpec:
    id: int
    type: str
    url: str = ""
    method: str = "GET"
    expected_status: int = 200
    body_contains: str = ""
    body_regex: str = ""
    latency_limit_ms: int | None = None
    max_redirects: int = 5
    cert_warning_days: int = 14
    host: str = ""
    port: int | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ProbeOutcome:
    passed: bool
    message: str
    latency_ms: int | None = None
    status_code: int | None = None


def ssl_context(ca_bundle: str = "") -> ssl.SSLContext:
    """Verifying context (the system's roots, plus OPS_CHECK_CA_BUNDLE if set, for an internal CA)."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def new_client(*, ca_bundle: str = "", max_connections: int = 200,
               context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=context or ssl_context(ca_bundle),
        follow_redirects=False,  # followed here, counted against each check's own limit
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "ErsenOps-checker/1"},
        trust_env=False,
    )


class ClientPool:
    """Several AsyncClients, each with a small pool: httpcore looks through every connection of its pool on each
    request (cost grows with connections × waiting requests), so 500 connections in one client would cost more than
    the probes. A check always uses the same client (by id), so its keep-alive connection is reused."""

    PER_CLIENT = 20

    def __init__(self, *, ca_bundle: str = "", connections: int = 500):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would cost more than it
        count = max(1, -(-connections // self.PER_CLIENT))
        context = ssl_context(ca_bundle)  # loading the roots takes ~0.1 s: once for every client
        self.clients = [new_client(context=context, max_connections=self.PER_CLIENT) for _ in range(count)]

    def for_check(self, check_id: int) -> httpx.AsyncClient:
        return self.clients[check_id % len(self.clients)]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for client in self.clients:
            await client.aclose()


def _not_after(der: bytes | None) -> datetime | None:
    if not der:
        return None
    return x509.load_der_x509_certificate(der).not_valid_after_utc


def _peer_cert(response: httpx.Response) -> bytes | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _root(exc: BaseException) -> BaseException:
    """The deepest cause (httpx wraps httpcore wraps anyio wraps the OS's error)."""
    seen = 0
    while (exc.__cause__ or exc.__context__) is not None and seen < 10:
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return exc


def _reason(exc: BaseException) -> str:
    exc = _root(exc)
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc) or "Errno 111" in str(exc):
        return "connection refused"
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = f"TLS certificate not valid ({exc.verify_message})"
    return text.splitlines()[0][:300]


async def probe_http(spec: ProbeSpec, client: httpx.AsyncClient, *, now: datetime | None = None) -> ProbeOutcome:
    url = spec.url
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout_s):
            for _hop in range(spec.max_redirects + 1):
                request = client.build_request(spec.method, url, timeout=spec.timeout_s)
                response = await client.send(request, stream=True)
                try:
                    der = _peer_cert(response) if url.startswith("https:") else None
                    location = response.headers.get("location")
                    if response.status_code in REDIRECT_CODES and location and spec.expected_status not in REDIRECT_CODES:
                        url = urljoin(url, location)
                        continue
                    body = b""
                    if spec.body_contains or spec.body_regex:
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) >= BODY_LIMIT:
                                break
                    else:
                        await response.aread()
                finally:
                    await response.aclose()
                break
            else:
                return ProbeOutcome(False, policy.too_many_redirects(url=spec.url, limit=spec.max_redirects), _ms(started))
    except TimeoutError:
        return ProbeOutcome(False, policy.timed_out(target=spec.url, timeout_s=spec.timeout_s), _ms(started))
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        if isinstance(exc, httpx.TimeoutException):
            return ProbeOutcome(False, policy.timed_out(target=spec.url, timeout_s=spec.timeout_s), _ms(started))
        return ProbeOutcome(False, policy.refused(target=spec.url, reason=_reason(exc)), _ms(started))
    latency = _ms(started)
    code = response.status_code
    if code != spec.expected_status:
        return ProbeOutcome(False, policy.http_wrong_status(code=code, url=url, latency_ms=latency,
                                                            expected=spec.expected_status), latency, code)
    text = body.decode("utf-8", "replace") if body else ""
    if spec.body_contains and spec.body_contains not in text:
        return ProbeOutcome(False, policy.body_missing(url=url, needle=spec.body_contains), latency, code)
    if spec.body_regex and not re.search(spec.body_regex, text):
        return ProbeOutcome(False, policy.body_no_match(url=url, pattern=spec.body_regex), latency, code)
    if spec.latency_limit_ms is not None and latency > spec.latency_limit_ms:
        return ProbeOutcome(False, policy.http_too_slow(url=url, latency_ms=latency, limit_ms=spec.latency_limit_ms),
                            latency, code)
    not_after = _not_after(der)
    if not_after is not None:
        problem = policy.cert_problem(not_after=not_after, now=now or datetime.now(UTC),
                                      warning_days=spec.cert_warning_days)
        if problem:
            return ProbeOutcome(False, f"{problem} ({url})", latency, code)
    return ProbeOutcome(True, policy.http_passed(code=code, url=url, latency_ms=latency), latency, code)


async def probe_tcp(spec: ProbeSpec, *, tls_context: ssl.SSLContext | None = None,
                    now: datetime | None = None) -> ProbeOutcome:
    target = f"{spec.host}:{spec.port}"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout_s):
            reader, writer = await asyncio.open_connection(
                spec.host, spec.port, ssl=tls_context, server_hostname=spec.host if tls_context else None
            )
    except TimeoutError:
        return ProbeOutcome(False, policy.timed_out(target=target, timeout_s=spec.timeout_s), _ms(started))
    except (OSError, ssl.SSLError) as exc:
        return ProbeOutcome(False, policy.refused(target=target, reason=_reason(exc)), _ms(started))
    latency = _ms(started)
    der = None
    if tls_context is not None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1)
    except (OSError, ssl.SSLError, TimeoutError):
        pass
    if tls_context is None:
        return ProbeOutcome(True, f"connected to {target} after {policy.seconds(latency)}", latency)
    not_after = _not_after(der)
    if not_after is None:
        return ProbeOutcome(False, f"{target} sent no certificate", latency)
    now = now or datetime.now(UTC)
    problem = policy.cert_problem(not_after=not_after, now=now, warning_days=spec.cert_warning_days)
    if problem:
        return ProbeOutcome(False, f"{problem} ({target})", latency)
    return ProbeOutcome(True, f"{policy.cert_ok(not_after=not_after, now=now)} ({target})", latency)


async def run_probe(spec: ProbeSpec, *, client: httpx.AsyncClient, tls_context: ssl.SSLContext) -> ProbeOutcome:
    if spec.type == CheckType.HTTP:
        return await probe_http(spec, client)
    if spec.type == CheckType.TCP:
        return await probe_tcp(spec)
    if spec.type == CheckType.TLS:
        return await probe_tcp(spec, tls_context=tls_context)
    return ProbeOutcome(False, f"unknown check type {spec.type!r}")
