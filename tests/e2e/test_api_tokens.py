"""A newcomer finds API tokens from My account, makes one, and uses it; the API docs render under our CSP."""

from __future__ import annotations

import requests

from tests.factories import make_role_users


def test_a_token_made_from_my_account_works_and_is_shown_once(session_for, live_server):
    make_role_users()
    session = session_for("operator")
    page = session.login("operator")
    page.goto(session.url("/accounts/"))
    page.click("#api-tokens >> text=New API token")
    page.fill("#id_name", "GitHub deploy")
    page.check("input[name=scopes][value=incidents]")
    page.click("input[type=submit][value='Create token']")
    secret = page.inner_text("#api-token-secret").strip()
    assert secret.startswith("ersen_")
    session.shot("token shown once")
    me = requests.get(live_server.url + "/api/ops/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert me.status_code == 200 and me.json()["username"] == "operator"
    assert sorted(me.json()["token"]["scopes"]) == ["incidents", "read"]
    page.goto(session.url("/admin/api/apitoken/"))
    listing = page.inner_text("#result_list")
    assert secret[:14] in listing and secret not in page.content()
    assert "127.0.0.1" in listing  # last use and its address


def test_api_docs_render_from_our_own_static_files(session_for):
    session = session_for("public")
    page = session.goto("/api/ops/v1/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/ops/v1/incidents" in p for p in paths)
    session.shot("swagger ui")
