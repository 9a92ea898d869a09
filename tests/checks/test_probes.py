"""The probes against real loopback targets: what each failure says, in words."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from checks import probes
from checks.probes import ProbeSpec
from tests.checks.servers import Target, closed_port, make_ca_and_cert


def run(spec: ProbeSpec, ca: str = ""):
    async def go():
        async with probes.new_client(ca_bundle=ca) as client:
            return await probes.run_probe(spec, client=client, tls_context=probes.ssl_context(ca))

    # In a thread of its own: later in the session the browser tests' Playwright keeps an event loop running on
    # the main thread (pytest-django runs these database-free tests last), where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


@pytest.fixture
def target():
    with Target() as t:
        yield t


def test_http_passes_with_the_expected_status_and_body(target):
    outcome = run(ProbeSpec(id=1, type="http", url=target.url("/ok"), body_contains="payments", body_regex=r"log\w+"))
    assert outcome.passed, outcome.message
    assert outcome.status_code == 200
    assert outcome.message.startswith(f"HTTP 200 from {target.url('/ok')} after ")


def test_a_wrong_status_reads_in_words(target):
    outcome = run(ProbeSpec(id=1, type="http", url=target.url("/status?code=502")))
    assert not outcome.passed
    assert outcome.message.startswith(f"HTTP 502 from {target.url('/status?code=502')} after ")
    assert outcome.message.endswith("; expected 200")


def test_a_slow_answer_fails_the_latency_limit_and_the_timeout(target):
    slow = run(ProbeSpec(id=1, type="http", url=target.url("/slow?ms=400"), latency_limit_ms=100))
    assert not slow.passed and "the limit is 100 ms" in slow.message
    late = run(ProbeSpec(id=1, type="http", url=target.url("/slow?ms=2000"), timeout_s=0.5))
    assert not late.passed
    assert late.message == f"no answer from {target.url('/slow?ms=2000')} within 0.5 s (timeout)"


def test_body_expectations_fail_in_words(target):
    missing = run(ProbeSpec(id=1, type="http", url=target.url("/ok"), body_contains="checkout"))
    assert missing.message == f"the body of {target.url('/ok')} does not contain 'checkout'"
    nomatch = run(ProbeSpec(id=1, type="http", url=target.url("/ok"), body_regex=r"^\d+$"))
    assert "does not match the regular expression" in nomatch.message


def test_redirects_are_followed_up_to_the_limit(target):
    assert run(ProbeSpec(id=1, type="http", url=target.url("/hop"), max_redirects=1)).passed
    loop = run(ProbeSpec(id=1, type="http", url=target.url("/loop"), max_redirects=3))
    assert loop.message == f"{target.url('/loop')} redirected more than 3 times"


def test_a_closed_port_is_refused():
    port = closed_port()
    tcp = run(ProbeSpec(id=1, type="tcp", host="127.0.0.1", port=port, timeout_s=2))
    assert not tcp.passed and tcp.message == f"could not connect to 127.0.0.1:{port}: connection refused"
    http = run(ProbeSpec(id=1, type="http", url=f"http://127.0.0.1:{port}/", timeout_s=2))
    assert not http.passed and "connection refused" in http.message


def test_tcp_connects(target):
    outcome = run(ProbeSpec(id=1, type="tcp", host="127.0.0.1", port=target.port))
    assert outcome.passed and outcome.message.startswith(f"connected to 127.0.0.1:{target.port} after")


def test_an_expiring_certificate_fails_https_and_tls_checks(tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path, days_valid=6)
    with Target(tls=(cert, key)) as t:
        https = run(ProbeSpec(id=1, type="http", url=t.url("/ok"), cert_warning_days=14), ca=str(ca))
        assert not https.passed
        assert https.message == f"certificate expires in 6 days; warning at 14 ({t.url('/ok')})"
        tls = run(ProbeSpec(id=1, type="tls", host="127.0.0.1", port=t.port, cert_warning_days=14), ca=str(ca))
        assert tls.message == f"certificate expires in 6 days; warning at 14 (127.0.0.1:{t.port})"
        fine = run(ProbeSpec(id=1, type="tls", host="127.0.0.1", port=t.port, cert_warning_days=3), ca=str(ca))
        assert fine.passed and fine.message.startswith("certificate valid for 6 more days")


def test_an_untrusted_certificate_is_a_failure(tmp_path):
    _ca, cert, key = make_ca_and_cert(tmp_path, days_valid=60)
    with Target(tls=(cert, key)) as t:
        outcome = run(ProbeSpec(id=1, type="http", url=t.url("/ok")))  # the test CA is not trusted here
    assert not outcome.passed and "TLS certificate not valid" in outcome.message
