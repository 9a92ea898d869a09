"""The subscribe endpoint is rate limited per address and per client network, in the database (shared by
every worker process), with a sliding window; refusals say how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from subscribers import policy, services
from subscribers.models import RateLimitCounter

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 1, 10, 1, tzinfo=UTC)  # one minute into an hour-long window


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


def post(client, address, ip="203.0.113.7", **headers):
    return client.post("/subscribe", {"email": address}, REMOTE_ADDR=ip, **headers)


def test_an_address_is_limited_whatever_the_client(client, pipeline):
    with pipeline():
        answers = [post(client, "target@example.com", ip=f"198.51.100.{n}").status_code for n in range(1, 5)]
    assert answers == [302, 302, 302, 429]
    response = post(client, "target@example.com", ip="198.51.100.9")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many subscription requests for this address" in text and "(at most 3 per 1 hour)" in text
    assert int(response["Retry-After"]) > 59 * 60  # the rest of this window and then some
    # Three confirmation requests at most reached the mailbox: the form cannot be used to flood it.
    assert len([m for m in mail.outbox if m.to == ["target@example.com"]]) == 3
    # Another address is not affected.
    assert post(client, "other@example.com").status_code == 302


def test_a_client_network_is_limited_whatever_the_address(client, settings):
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 3
    answers = [post(client, f"user{n}@example.com").status_code for n in range(4)]
    assert answers == [302, 302, 302, 429]
    response = post(client, "user9@example.com")
    assert "Too many subscription requests from your network" in response.content.decode()
    assert post(client, "user9@example.com", ip="192.0.2.1").status_code == 302  # another client


def test_invalid_requests_count_towards_the_client_limit(client, settings):
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 2
    assert post(client, "nonsense").status_code == 400
    assert post(client, "nonsense2").status_code == 400
    assert post(client, "valid@example.com").status_code == 429


def test_behind_the_proxy_the_client_is_the_address_the_proxy_saw(client, settings):
    settings.BEHIND_PROXY = True
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 2
    # The client may write anything at the front of X-Forwarded-For; the proxy appends what it saw.
    answers = [
        post(client, f"u{n}@example.com", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 203.0.113.50").status_code
        for n in range(3)
    ]
    assert answers == [302, 302, 429]


def test_one_ipv6_network_counts_as_one_client(client, settings):
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 2
    assert post(client, "a@example.com", ip="2001:db8:1:2::1").status_code == 302
    assert post(client, "b@example.com", ip="2001:db8:1:2:ffff::9").status_code == 302
    assert post(client, "c@example.com", ip="2001:db8:1:2:abcd::7").status_code == 429
    assert post(client, "d@example.com", ip="2001:db8:1:3::1").status_code == 302  # another /64


def test_the_limit_slides_rather_than_resetting_at_the_hour(client, frozen, settings):
    settings.OPS_SUBSCRIBE_LIMIT_PER_IP = 4
    for n in range(4):
        assert post(client, f"s{n}@example.com").status_code == 302
    # Just after the hour a fixed window would allow 4 more at once; the sliding window still counts
    # most of the previous hour.
    frozen.move_to(AT + timedelta(minutes=59, seconds=30))
    assert post(client, "late@example.com").status_code == 429
    frozen.move_to(AT + timedelta(hours=2))
    assert post(client, "later@example.com").status_code == 302


def test_counters_are_shared_rows_that_hold_no_address_or_ip(client):
    post(client, "private@example.com", ip="203.0.113.99")
    keys = list(RateLimitCounter.objects.values_list("key", flat=True))
    assert len(keys) == 2
    assert all("private" not in k and "203.0.113" not in k for k in keys)
    # A second process sees the same count: it is one UPDATE on one row.
    decision = services.rate_limit_hit(scope="email", value="private@example.com", limit=1)
    assert not decision.allowed and decision.count == 2


def test_old_counters_are_purged(client):
    post(client, "x@example.com")
    assert services.rate_limits_purge(now=AT + timedelta(hours=3)) == 2
    assert not RateLimitCounter.objects.exists()


@pytest.mark.parametrize(
    "previous, current, minute, allowed, wait_minutes",
    [
        (0, 3, 1, True, 0),
        (0, 4, 1, False, 89),  # rest of this hour (59) + half of the next (1 − 2/4)
        (4, 1, 30, True, 0),  # 4 × 0.5 + 1 = 3
        (4, 2, 30, False, 30),  # 4 × 0.5 + 2 = 4 > 3; the next fits when 4 × (1 − e) + 3 ≤ 3: the hour's end
        (6, 1, 30, False, 20),  # 6 × 0.5 + 1 = 4 > 3; the next fits when 6 × (1 − e) + 2 ≤ 3: e = 5/6 (minute 50)
    ],
)
def test_sliding_window_arithmetic(previous, current, minute, allowed, wait_minutes):
    now = datetime(2026, 12, 1, 10, minute, tzinfo=UTC)
    decision = policy.rate_decision(previous=previous, current=current, now=now, window=timedelta(hours=1), limit=3)
    assert decision.allowed is allowed
    if not allowed:
        assert abs(decision.retry_after_seconds - wait_minutes * 60) <= 60
