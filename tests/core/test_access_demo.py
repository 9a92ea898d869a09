"""The newcomer's path: demo logins that need a second factor come with a TOTP, and their code is one command away."""

from __future__ import annotations

import io

import django.test
import pytest
from allauth.mfa.models import Authenticator
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def _logins(tmp_path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in (tmp_path / ".demo-credentials").read_text().splitlines())


def test_seed_demo_enrols_a_totp_for_every_login_that_needs_one_and_prints_how_to_get_the_code(
    tmp_path, settings, capsys
):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    out = capsys.readouterr().out
    enrolled = set(Authenticator.objects.filter(type="totp").values_list("user__username", flat=True))
    assert enrolled == {"admin", "operator", "approver", "commander"}  # viewers are exempt
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    for username in enrolled:
        assert f"code: make code U={username}" in lines[username]
    assert "code:" not in lines["viewer"]
    assert set(_logins(tmp_path)) == {"admin", "operator", "approver", "commander", "viewer"}


def test_the_printed_code_logs_the_demo_operator_in(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo", quiet_credentials=True)
    password = _logins(tmp_path)["operator"]
    out = io.StringIO()
    call_command("totp_code", "operator", stdout=out, stderr=io.StringIO())
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    browser = django.test.Client()
    response = browser.post("/accounts/login/", {"login": "operator", "password": password, "next": "/admin/"})
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    response = browser.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200


def test_totp_code_explains_an_unknown_user_or_one_without_a_totp(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo", quiet_credentials=True)
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("totp_code", "nobody")
    with pytest.raises(CommandError, match="viewer has no authenticator app enrolled"):
        call_command("totp_code", "viewer")
