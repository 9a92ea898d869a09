"""Checks from the portal against a local TLS server with certificates generated here."""

from __future__ import annotations

import pytest

from runbooks import checks
from runbooks.sandbox import TLSServer, make_certificates


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory):
    paths = make_certificates(tmp_path_factory.mktemp("tls"), hostname="localhost", days=90)
    server = TLSServer(paths["cert"], paths["key"]).start()
    yield {"url": f"https://localhost:{server.port}", "port": server.port, **paths}
    server.stop()


@pytest.fixture(scope="module")
def expiring_site(tmp_path_factory):
    paths = make_certificates(tmp_path_factory.mktemp("tls-expiring"), hostname="localhost", days=6)
    server = TLSServer(paths["cert"], paths["key"]).start()
    yield {"url": f"https://localhost:{server.port}", **paths}
    server.stop()


def test_tls_check_fails_with_the_reason_when_the_ca_is_not_trusted(tls_site):
    outcome = checks.tls_check(tls_site["url"], min_days=14)
    assert outcome["ok"] is False and outcome["reason"] == "untrusted"
    assert "not accepted" in outcome["message"] and "local issuer" in outcome["message"]


def test_tls_check_passes_with_the_ca_trusted(tls_site):
    outcome = checks.tls_check(tls_site["url"], min_days=14, cafile=str(tls_site["ca"]))
    assert outcome["ok"] is True, outcome
    assert outcome["days_left"] > 80 and outcome["issuer"] == "Ersen Ops sandbox"
    assert "matches the host name" in outcome["message"]


def test_tls_check_fails_when_the_hostname_does_not_match(tls_site):
    outcome = checks.tls_check(f"https://127.0.0.1:{tls_site['port']}", min_days=14, cafile=str(tls_site["ca"]))
    assert outcome["ok"] is False and "mismatch" in outcome["message"].lower()


def test_tls_check_fails_when_expiry_is_below_the_threshold(expiring_site):
    outcome = checks.tls_check(expiring_site["url"], min_days=14, cafile=str(expiring_site["ca"]))
    assert outcome["ok"] is False and outcome["reason"] == "expiring"
    assert "expires in 5." in outcome["message"] or "expires in 6." in outcome["message"]
    assert "the threshold is 14 days" in outcome["message"]


def test_tls_check_names_a_closed_port_and_retries_while_waiting(tls_site):
    from runbooks.sandbox import free_port

    outcome = checks.tls_check(f"https://localhost:{free_port()}", min_days=14, wait_seconds=1)
    assert outcome["ok"] is False and outcome["reason"] == "connect" and outcome["attempts"] >= 2


def test_http_check_compares_the_status_code(tls_site):
    ok = checks.http_check(tls_site["url"] + "/login", expected_status=200, cafile=str(tls_site["ca"]))
    assert ok["ok"] and ok["status"] == 200
    missing = checks.http_check(tls_site["url"] + "/missing", expected_status=200, cafile=str(tls_site["ca"]))
    assert not missing["ok"] and "answered 404, expected 200" in missing["message"]
    untrusted = checks.http_check(tls_site["url"] + "/login", expected_status=200)
    assert not untrusted["ok"] and "TLS error" in untrusted["message"]
