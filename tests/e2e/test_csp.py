"""The browser enforces the portal's Content-Security-Policy, and the e2e harness notices a violation."""

from __future__ import annotations

from tests.e2e.conftest import Session


def test_an_inline_script_on_the_status_page_is_refused_and_the_harness_records_it(browser, live_server):
    session = Session(browser, live_server, "csp", "public")
    try:
        page = session.goto("/")
        page.evaluate(
            """() => { const s = document.createElement("script"); s.textContent = "window.ran = true";
                       document.body.appendChild(s); }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.ran === true") is False
        assert len(session.csp_violations) == 1 and "script-src" in session.csp_violations[0]
    finally:
        session.close()
