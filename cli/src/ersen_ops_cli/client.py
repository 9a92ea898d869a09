"""The HTTP side: one httpx client with the token, problem details as exceptions, POSTs with an Idempotency-Key
retried with the same key (a CI retry never opens two incidents or launches two runs)."""

from __future__ import annotations

import os
import time
import uuid

import httpx

from ersen_ops_cli import __version__

API_PATH = "/api/ops/v1/"
RETRY_STATUSES = {429, 502, 503, 504}
ATTEMPTS = 4


class UsageError(Exception):
    """Configuration or usage: exit 2."""


class Problem(Exception):
    """The API refused (an RFC 9457 problem): exit 1 for a rule's refusal (4xx), 2 for the rest."""

    def __init__(self, status: int, detail: str, code: str = "", body: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.code, self.body = status, detail, code, body or {}

    def __str__(self) -> str:
        text = f"{self.detail} (HTTP {self.status}" + (f", {self.code}" if self.code else "") + ")"
        for detail in self.body.get("details") or []:
            text += f"\n  - {detail}"
        for field, errors in (self.body.get("errors") or {}).items():
            text += f"\n  - {field}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
        return text


def base_url(url: str | None) -> str:
    url = (url or "").strip()
    if not url:
        raise UsageError("Set ERSEN_OPS_URL to the portal's address, e.g. https://ops.ersen.xyz")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"ERSEN_OPS_URL must start with http:// or https:// (it is {url!r}).")
    url = url.rstrip("/")
    return url + "/" if url.endswith(API_PATH.rstrip("/")) else url + API_PATH


class Client:
    def __init__(self, *, url: str | None = None, token: str | None = None, timeout: float = 30.0, sleep=time.sleep):
        token = (token if token is not None else os.environ.get("ERSEN_OPS_TOKEN", "")).strip()
        if not token:
            raise UsageError("Set ERSEN_OPS_TOKEN to a personal access token (admin → My account → API tokens).")
        self.sleep = sleep
        self.http = httpx.Client(
            base_url=base_url(url if url is not None else os.environ.get("ERSEN_OPS_URL")),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"ersen-ops-cli/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict | None = None) -> dict:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: dict | None = None) -> dict:
        return self._send("POST", path, json=body or {}, headers={"Idempotency-Key": str(uuid.uuid4())})

    def _send(self, method: str, path: str, **kwargs) -> dict:
        delay = 1.0
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.request(method, path.lstrip("/"), **kwargs)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise UsageError(f"Cannot reach {self.http.base_url}: {exc.__class__.__name__}: {exc}") from None
                self.sleep(delay)
                delay *= 2
                continue
            if response.status_code in RETRY_STATUSES and attempt < ATTEMPTS:
                retry_after = response.headers.get("Retry-After", "")
                self.sleep(min(float(retry_after), 60.0) if retry_after.isdigit() else delay)
                delay *= 2
                continue
            return self._answer(response)
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        if isinstance(body, dict) and "detail" in body:
            raise Problem(response.status_code, str(body["detail"]), str(body.get("code", "")), body)
        raise Problem(response.status_code, f"Unexpected answer: {response.text[:200]!r}")
