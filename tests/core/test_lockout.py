"""Login lockout (django-axes): per username and per client address, the lockout page, lifting it (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.policy import lockout_ends_at
from ersen_ops.core.accounts.services import lockout_lift
from ersen_ops.core.errors import PermissionRefused
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"
NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)


def login(client, username, password, address="127.0.0.1", **extra):
    return client.post(
        LOGIN_URL, {"login": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address, **extra
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def locked(response) -> bool:
    return response.status_code == 429 and b"Logging in is paused" in response.content


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_the_fifth_failure_locks_and_the_right_password_is_then_refused(client, alice):
    answers = [login(client, "alice", f"wrong-{i}") for i in range(5)]
    assert [r.status_code for r in answers[:4]] == [200] * 4  # the login form again, with its error
    assert locked(answers[4])
    assert answers[4]["Retry-After"] == str(15 * 60)
    assert locked(login(client, "alice", "pw"))
    failed = AuditEvent.objects.filter(action=AccessAction.LOGIN_FAILED).order_by("id")
    assert [e.data["reason"] for e in failed] == ["wrong username or password"] * 5 + [
        "locked out: refused without checking the password"
    ]
    assert all(e.data["username"] == "alice" and "pw" not in str(e.data) for e in failed)
    (lockout,) = AuditEvent.objects.filter(action=AccessAction.LOCKED_OUT)
    assert lockout.data["username"] == "alice" and lockout.data["failures"] == 5
    assert set(lockout.data["locked"]) == {"username", "ip_address"}
    assert lockout.data["locked_until"] == (NOW + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    assert not AuditEvent.objects.filter(action=AccessAction.LOGIN).exists()


def test_a_username_is_locked_whatever_the_address(client, alice, settings):
    settings.BEHIND_PROXY = True  # the address is the proxy's X-Forwarded-For entry, as for subscribers
    for i in range(5):
        login(client, "Alice", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    assert locked(login(client, "alice", "pw", address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50"))
    assert (
        logged_in(login(client, "bob-does-not-exist", "x", address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50"))
        is False
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) >= {f"198.51.100.{i}" for i in range(5)}


def test_an_address_is_locked_whatever_the_username(client, alice):
    for i in range(5):
        login(client, f"guess-{i}", "wrong", address="203.0.113.9")
    assert locked(login(client, "alice", "pw", address="203.0.113.9"))
    assert logged_in(login(client, "alice", "pw", address="203.0.113.10"))


def test_the_lockout_page_does_not_tell_whether_the_username_exists(client, alice):
    def lock(username, address):
        for _ in range(5):
            login(client, username, "wrong", address=address)
        return login(client, username, "wrong", address=address)

    known, unknown = lock("alice", "203.0.113.1"), lock("nobody-by-this-name", "203.0.113.2")
    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert known["Retry-After"] == unknown["Retry-After"]


def test_the_lockout_page_says_when_to_try_again_in_the_visitors_zone(client, alice):
    client.cookies["ops_tz"] = "Europe/Paris"
    for _ in range(5):
        response = login(client, "alice", "wrong")
    text = response.content.decode()
    assert "Try again <strong>in 15 minutes</strong>" in text
    assert "22:45 CET · 13:45 PST" in text and "2026-12-01 21:45 UTC" in text


def test_the_lockout_ends_after_the_cooloff(client, alice, frozen):
    for _ in range(5):
        login(client, "alice", "wrong")
    frozen.shift(timedelta(minutes=14, seconds=59))
    assert locked(login(client, "alice", "pw"))
    frozen.shift(timedelta(seconds=2))
    assert logged_in(login(client, "alice", "pw"))


def test_failures_below_the_limit_do_not_lock(client, alice):
    for _ in range(4):
        login(client, "alice", "wrong")
    assert logged_in(login(client, "alice", "pw"))


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        ([], None),
        ([(NOW, 4)], None),
        ([(NOW, 5)], NOW + timedelta(minutes=15)),
        # Newest first: the record that brings the sum to 5 is the one whose expiry ends the lockout.
        ([(NOW - timedelta(minutes=10), 3), (NOW, 1), (NOW - timedelta(minutes=5), 1)], NOW + timedelta(minutes=5)),
    ],
)
def test_when_a_lockout_ends(attempts, expected):
    assert lockout_ends_at(attempts, limit=5, cooloff=timedelta(minutes=15)) == expected


def test_superusers_see_lockouts_and_lift_one_audited(client, alice, users):
    for i in range(5):
        login(client, "alice", "wrong", address=f"203.0.113.{i}")
    client.force_login(users["admin"])
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert b"username until" in listing.content and b"203.0.113.4" in listing.content
    response = client.post(
        "/admin/axes/accessattempt/",
        {"action": "lift_username_lockouts", "_selected_action": [AccessAttempt.objects.first().pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()
    lifted = AuditEvent.objects.get(action=AccessAction.LOCKOUT_LIFTED)
    assert lifted.actor == users["admin"] and lifted.data["username"] == "alice"
    assert lifted.data["before"]["failures"] == 5 and lifted.data["after"] == {"failures": 0, "locked_until": None}
    client.logout()
    assert logged_in(login(client, "alice", "pw", address="203.0.113.77"))


def test_only_superusers_see_or_lift_lockouts(client, alice, users):
    login(client, "alice", "wrong")
    client.force_login(users["operator"])
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    with pytest.raises(PermissionRefused):
        lockout_lift(actor=users["operator"], scope="username", value="alice")
    assert AccessAttempt.objects.filter(username="alice").exists()


def test_known_and_unknown_usernames_cost_the_same_queries_and_hashes(client, alice, monkeypatch):
    """The timing shape, without timing: as many password hashes and queries either way, failing or locked."""
    from django.contrib.auth.hashers import MD5PasswordHasher
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    hashes = []
    original = MD5PasswordHasher.encode
    monkeypatch.setattr(MD5PasswordHasher, "encode", lambda self, *a, **k: hashes.append(1) or original(self, *a, **k))

    def cost(username, address):
        hashes.clear()
        with CaptureQueriesContext(connection) as queries:
            response = login(client, username, "wrong", address=address)
        return response.status_code, len(hashes), len(queries)

    for attempt in range(6):  # 4 failures, the locking 5th, one while locked
        known, unknown = cost("alice", "203.0.113.1"), cost("nobody-by-this-name", "203.0.113.2")
        assert known[:2] == unknown[:2], f"attempt {attempt + 1}: {known} vs {unknown}"
        assert known[2] == unknown[2], f"attempt {attempt + 1}: {known} vs {unknown} queries"
