"""Start, drive and stop the test OpenID Connect provider (tests/oidc_provider) as a separate process.

Imports nothing of the provider itself: the portal's test process only talks to it over HTTP on loopback.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.receivers import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
CLIENT_ID = "ersen-ops-tests"
# The portal's callback as Django's test client sees it; a live server's is added with allow_redirect_uri().
TEST_CLIENT_CALLBACK = "http://testserver/accounts/oidc/sso/login/callback/"


def _rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class OIDCProvider:
    """django-oauth-toolkit's OpenID Connect provider on 127.0.0.1:<free port>, with its own SQLite file and an
    RS256 key generated for this run. `issuer`, `client_id` and `client_secret` are what the portal is given."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/o"
        self.client_id = CLIENT_ID
        self.client_secret = secrets.token_urlsafe(32)
        self._control_token = secrets.token_urlsafe(32)
        self.log = folder / "provider.log"
        key_file = folder / "oidc-rs256.pem"
        key_file.write_text(_rsa_private_key_pem())
        key_file.chmod(0o600)
        self.env = dict(os.environ)
        self.env.update(
            DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
            PYTHONPATH=str(BASE_DIR),
            OIDC_PROVIDER_SECRET_KEY=secrets.token_urlsafe(50),
            OIDC_PROVIDER_DB=str(folder / "provider.sqlite3"),
            OIDC_PROVIDER_KEY_FILE=str(key_file),
            OIDC_PROVIDER_ISSUER=self.issuer,
            OIDC_PROVIDER_CLIENT_ID=self.client_id,
            OIDC_PROVIDER_CLIENT_SECRET=self.client_secret,
            OIDC_PROVIDER_REDIRECT_URIS=TEST_CLIENT_CALLBACK,
            OIDC_PROVIDER_CONTROL_TOKEN=self._control_token,
        )
        self.proc: subprocess.Popen | None = None
        self._log_handle = None

    def start(self, timeout: float = 60) -> OIDCProvider:
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "django", "oidc_serve", f"127.0.0.1:{self.port}"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"OIDC provider exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.discovery_url, timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"OIDC provider did not start within {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._log_handle:
            self._log_handle.close()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    # --- remote control ------------------------------------------------------------------------------------
    def _control(self, **body) -> dict:
        response = requests.post(
            f"http://127.0.0.1:{self.port}/_control/",
            json=body,
            headers={"X-Control-Token": self._control_token},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def add_user(self, username: str, *, password: str = "idp-pw", groups=(), email: str = "", amr=("pwd",), **names):
        """Create or update a user at the provider; returns its subject (the `sub` claim)."""
        return self._control(
            action="user",
            username=username,
            password=password,
            groups=list(groups),
            email=email,
            amr=list(amr),
            **names,
        )["sub"]

    def tamper(self, mode: str | None) -> None:
        """Make the next ID tokens wrong in one way (see validator.TAMPER_MODES); None: issue them properly."""
        self._control(action="tamper", mode=mode)

    def allow_redirect_uri(self, uri: str) -> None:
        self._control(action="redirect_uri", uri=uri)

    # --- the browser's part, for tests through Django's test client -----------------------------------------
    def authorize(self, authorize_url: str, *, username: str, password: str = "idp-pw") -> str:
        """Sign in at the provider as a browser would and follow the authorization request; returns the
        redirect back to the portal (its callback URL with code and state)."""
        browser = requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code == 302 and "/accounts/login/" in response.headers["Location"]:
            login_url = urljoin(authorize_url, response.headers["Location"])
            page = browser.get(login_url, timeout=10)
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            next_url = unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
            response = browser.post(
                login_url,
                data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": next_url},
                headers={"Referer": login_url},
                allow_redirects=False,
                timeout=10,
            )
            if response.status_code != 302:
                raise AssertionError(f"provider login failed for {username!r}: {response.status_code}")
            response = browser.get(urljoin(login_url, response.headers["Location"]), allow_redirects=False, timeout=10)
        if response.status_code != 302:
            raise AssertionError(
                f"provider refused the authorization request: {response.status_code} {response.text[:500]}"
            )
        return response.headers["Location"]
