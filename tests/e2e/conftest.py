"""End-to-end fixtures: a real headless Chromium (Debian's, through Playwright) against pytest-django's live
server, with a real `manage.py qcluster` and the sshd sandbox host of the runbook tests.

- One browser for the whole session; a fresh context (cookies, time zone) per user per test.
- The database is shared by three processes' worth of code (this test, the live-server thread, the qcluster
  process): tests are transactional, and on SQLite the test database is a file (tests/settings.py).
- The pages visited must cause no Content-Security-Policy violation (logged on the browser's console).
- Screenshots of every step go to test-artifacts/e2e/<flow>/ (git-ignored); CI keeps them as artifacts.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would refuse ORM calls from it otherwise.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from tests.conftest import require_program  # noqa: E402
from tests.maintenance.conftest import ensure_checklist_templates  # noqa: E402
from tests.processes import BASE_DIR  # noqa: E402  (sandbox, worker fixtures come from tests/conftest.py)

ARTIFACTS = BASE_DIR / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OPERATOR_ZONE = "Europe/Berlin"  # the browsers' zone: the admin shows it beside Pacific
PASSWORD = "pw"  # tests.factories.UserFactory's


_used_time_steps: dict[int, int] = {}


def fresh_totp_code(user) -> str:
    """The user's current TOTP code, waiting for the next time step if this one was used already (allauth
    refuses a code replayed inside its step, as it should)."""
    import time

    from tests.access import totp_code

    step = int(time.time()) // 30
    if _used_time_steps.get(user.pk) == step:
        time.sleep(30 - time.time() % 30 + 0.2)
        step = int(time.time()) // 30
    _used_time_steps[user.pk] = step
    return totp_code(user, at=step * 30)


@pytest.fixture(scope="session")
def browser():
    chromium = require_program("chromium", "/usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _fresh_public_cache():
    """A flushed database restarts the status version at 0: forget documents rendered for an earlier test."""
    from statuspage import caching

    caching.documents.clear()
    yield
    caching.documents.clear()


@pytest.fixture(autouse=True)
def _checklist_templates(transactional_db):
    ensure_checklist_templates()  # a data migration's rows, removed by the previous test's flush


class Session:
    """One person in one browser context: log in, take named screenshots, read the page."""

    def __init__(self, browser, live_server, flow: str, who: str):
        self.base = live_server.url
        self.flow = flow
        self.who = who
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=OPERATOR_ZONE)
        # Every Content-Security-Policy violation the browser logs fails the test at teardown.
        self.csp_violations: list[str] = []
        self.context.on("console", self._on_console)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.folder = ARTIFACTS / flow
        self.folder.mkdir(parents=True, exist_ok=True)

    def _on_console(self, message) -> None:
        # Older Chromium says "Refused to …", current "… violates the following Content Security Policy directive …".
        if "Refused to" in message.text or "Content Security Policy" in message.text:
            self.csp_violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def url(self, path: str) -> str:
        return self.base + path

    def goto(self, path: str):
        self.page.goto(self.url(path))
        return self.page

    def login(self, username: str, password: str = PASSWORD):
        """Log in through the real pages: the admin's /admin/login/ redirects to allauth's login; a user who needs
        a second factor is enrolled with a TOTP (if they have none) and types the current code, as a person would."""
        from django.contrib.auth import get_user_model

        from ersen_ops.core.access.factors import user_requires_second_factor
        from tests.access import enrol_totp

        user = get_user_model().objects.get(username=username)
        needs_code = user_requires_second_factor(user)
        if needs_code:
            enrol_totp(user)
        page = self.goto("/admin/login/?next=/admin/")
        page.fill("#id_login", username)
        page.fill("#id_password", password)
        page.click("#login-form input[type=submit]")
        if needs_code:
            page.wait_for_selector("#id_code")
            page.fill("#id_code", fresh_totp_code(user))
            page.press("#id_code", "Enter")
        page.wait_for_selector("#control-room")
        return page

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        index = len(list(self.folder.glob("*.png"))) + 1
        path = self.folder / f"{index:02d}-{self.who}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self):
        self.context.close()


@pytest.fixture
def session_for(request, browser, live_server):
    """session_for("operator") → a logged-out browser session for that person, screenshots under the flow's name."""
    flow = request.node.name.removeprefix("test_")
    folder = ARTIFACTS / flow
    shutil.rmtree(folder, ignore_errors=True)
    opened: list[Session] = []

    def make(who: str) -> Session:
        s = Session(browser, live_server, flow, who)
        opened.append(s)
        return s

    yield make
    violations = [v for s in opened for v in s.csp_violations]
    for s in opened:
        s.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)
