"""The CLI's HTTP client against a real local HTTP server (pytest-httpserver): a POST retried after 503 / 429 or a
dropped answer carries the same Idempotency-Key, so the portal replays the first result instead of acting twice."""

from __future__ import annotations

import sys

import pytest
from werkzeug import Response

from tests.cli.conftest import CLI_SOURCE

sys.path.insert(0, str(CLI_SOURCE))
from ersen_ops_cli.client import Client, Problem, UsageError, base_url  # noqa: E402

sys.path.remove(str(CLI_SOURCE))


def test_a_retried_post_reuses_its_idempotency_key(httpserver):
    seen = []
    answers = iter(
        [
            Response("busy", status=503),
            Response("slow down", status=429, headers={"Retry-After": "1"}),
            Response('{"id": "inc_1"}', status=201, content_type="application/json"),
        ]
    )

    def handler(request):
        seen.append((request.headers.get("Idempotency-Key"), request.headers.get("Authorization")))
        return next(answers)

    httpserver.expect_request("/api/ops/v1/incidents", method="POST").respond_with_handler(handler)
    waits = []
    client = Client(url=httpserver.url_for("/"), token="ersen_t", sleep=waits.append)
    assert client.post("incidents", {"title": "x"}) == {"id": "inc_1"}
    keys = {key for key, _ in seen}
    assert len(seen) == 3 and len(keys) == 1 and None not in keys
    assert {auth for _, auth in seen} == {"Bearer ersen_t"}
    assert waits == [1.0, 1.0]  # backoff, then Retry-After


def test_a_problem_is_raised_with_its_sentence_and_fields(httpserver):
    body = {
        "type": "urn:ersen-ops:problem:policy",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "Cannot start “Deploy”: 1 “before” item(s) not done.",
        "code": "gate",
        "details": ["“Backup completed and verified”"],
    }
    httpserver.expect_request("/api/ops/v1/maintenance-windows/mnt_1/start").respond_with_json(body, status=422)
    client = Client(url=httpserver.url_for("/api/ops/v1"), token="ersen_t")
    with pytest.raises(Problem) as exc:
        client.post("maintenance-windows/mnt_1/start")
    assert exc.value.status == 422 and exc.value.code == "gate"
    assert str(exc.value).startswith("Cannot start “Deploy”") and "- “Backup completed and verified”" in str(exc.value)


def test_configuration_errors_name_the_variable():
    with pytest.raises(UsageError, match="ERSEN_OPS_URL"):
        base_url("")
    with pytest.raises(UsageError, match="http:// or https://"):
        base_url("ops.ersen.xyz")
    assert base_url("https://ops.ersen.xyz/") == "https://ops.ersen.xyz/api/ops/v1/"
    assert base_url("https://ops.ersen.xyz/api/ops/v1") == "https://ops.ersen.xyz/api/ops/v1/"
    with pytest.raises(UsageError, match="ERSEN_OPS_TOKEN"):
        Client(url="https://ops.ersen.xyz", token="")
