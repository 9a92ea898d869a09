"""Content-Security-Policy, Referrer-Policy and Permissions-Policy on the admin and the public pages; no inline
script left in the templates; the public API's CORS still open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.parametrize("url", ["/", "/accounts/login/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, url):
    response = client.get(url, follow=True)
    csp = directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][0] == "'self'" and "'unsafe-inline'" not in csp["script-src"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_the_admin_pages_carry_it_too(client, users):
    client.force_login(users["admin"])
    for url in ("/admin/", "/admin/incidents/incident/", "/admin/maintenance/maintenancewindow/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "'unsafe-inline'" not in directives(response)["script-src"], url
        html = response.content.decode()
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", html)
        assert inline == [], (url, inline)


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/api/v2/summary.json"])
def test_referrer_and_permissions_policies_are_sent(client, url):
    response = client.get(url, follow=True)
    assert response["Referrer-Policy"] == "same-origin"
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert "publickey-credentials-get=(self)" in policy  # the second factor (WebAuthn) keeps working


def test_the_public_api_still_answers_any_origin(client):
    response = client.get("/api/v2/summary.json", HTTP_ORIGIN="https://widgets.example.com")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"


def test_no_template_has_an_inline_script_or_an_event_handler_attribute():
    found = []
    for path in Path(settings.BASE_DIR).glob("**/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", text):
            if "nonce=" not in match.group(0):
                found.append(f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}")
        for match in re.finditer(r"<[a-zA-Z][^>]*\s(on[a-z]+)\s*=", text):
            found.append(f"{path.relative_to(settings.BASE_DIR)}: {match.group(1)}=")
    assert found == []
