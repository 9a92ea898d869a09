"""The client's address: one rule for subscriber rate limits, login lockout and login records."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from ersen_ops.core.clients import client_ip, request_client_ip


@pytest.mark.parametrize(
    "remote, forwarded, behind, expected",
    [
        ("203.0.113.7", "", False, "203.0.113.7"),
        ("10.0.0.2", "198.51.100.1, 203.0.113.9", True, "203.0.113.9"),
        ("10.0.0.2", "198.51.100.1, 203.0.113.9", False, "10.0.0.2"),  # not behind a proxy: the header is a lie
        ("10.0.0.2", "", True, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, not-an-address", True, "10.0.0.2"),  # never stored or counted as garbage
    ],
)
def test_the_client_address(remote, forwarded, behind, expected):
    assert client_ip(remote_addr=remote, forwarded_for=forwarded, behind_proxy=behind) == expected


def test_a_request_behind_the_proxy_is_the_last_forwarded_entry(settings):
    settings.BEHIND_PROXY = True
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
    )
    assert request_client_ip(request) == "203.0.113.9"
