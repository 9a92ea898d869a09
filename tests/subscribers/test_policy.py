"""Pure rules: addresses, client addresses, notice kinds, component expansion, chunks, CSV cells, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from subscribers import policy, tokens
from subscribers.choices import (
    NOTICE_TRANSITIONS,
    SUBSCRIBER_TRANSITIONS,
    WEBHOOK_TRANSITIONS,
    NoticeKind,
    can_transition,
)


@pytest.mark.parametrize(
    "address, ok",
    [
        ("reader@example.com", True),
        ("  Reader@Example.COM ", True),
        ("first.last+status@sub.example.co.uk", True),
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        ("someone@localhost", False),
        ("someone@[192.0.2.1]", False),
        ("", False),
    ],
)
def test_which_addresses_are_accepted(address, ok):
    assert (policy.email_problem(address) == "") is ok


def test_addresses_are_normalised():
    assert policy.normalise_email("  Reader@Example.COM ") == "reader@example.com"


def test_client_networks():
    assert policy.client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert policy.client_network("::ffff:203.0.113.7") == "203.0.113.7"
    assert policy.client_network("garbage") == "unknown"


@pytest.mark.parametrize(
    "event, first, kind",
    [
        ("incident.investigating", True, NoticeKind.INCIDENT_OPENED),
        ("incident.identified", True, NoticeKind.INCIDENT_OPENED),  # the first public word on it
        ("incident.identified", False, NoticeKind.INCIDENT_UPDATED),
        ("incident.resolved", False, NoticeKind.INCIDENT_RESOLVED),
        ("maintenance.rescheduled", False, NoticeKind.MAINTENANCE_RESCHEDULED),
        ("maintenance.eta_changed", False, NoticeKind.MAINTENANCE_DELAYED),
        ("maintenance.cancelled", False, NoticeKind.MAINTENANCE_CANCELLED),
        ("maintenance.summary", False, None),  # internal (#team-ops)
        ("incident.paged", False, None),
    ],
)
def test_which_posts_become_which_notices(event, first, kind):
    assert policy.notice_kind(event, first_public_post=first) == kind


def test_groups_and_children_are_expanded():
    group_of = {1: None, 2: 10, 3: 10, 10: None}
    children = {10: [2, 3]}
    assert policy.expand_components([2], group_of=group_of, children_of=children) == [2, 10]
    assert policy.expand_components([10], group_of=group_of, children_of=children) == [2, 3, 10]
    assert policy.expand_components([], group_of=group_of, children_of=children) == []


def test_subscriber_matching():
    assert policy.subscriber_matches([], [1])  # chose nothing: everything
    assert policy.subscriber_matches([2], [])  # an event without components: everyone
    assert policy.subscriber_matches([2, 3], [3])
    assert not policy.subscriber_matches([2], [3])


def test_chunks_and_disable_threshold():
    assert policy.chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert not policy.webhook_should_disable(consecutive_failures=9, limit=10)
    assert policy.webhook_should_disable(consecutive_failures=10, limit=10)


@pytest.mark.parametrize("value, cell", [("=1+1", "'=1+1"), ("@x", "'@x"), ("-2", "'-2"), ("ok", "ok"), (None, "")])
def test_csv_cells_are_never_formulas(value, cell):
    assert policy.csv_cell(value) == cell


def test_lifecycles():
    assert can_transition(SUBSCRIBER_TRANSITIONS, "pending", "confirmed")
    assert can_transition(SUBSCRIBER_TRANSITIONS, "unsubscribed", "pending")
    assert not can_transition(SUBSCRIBER_TRANSITIONS, "unsubscribed", "confirmed")  # always a new confirmation
    assert can_transition(WEBHOOK_TRANSITIONS, "disabled", "active")
    assert not can_transition(NOTICE_TRANSITIONS, "fanned_out", "fanning_out")


class _Sub:
    public_id = "sub_abc"
    token_version = 3


def test_confirm_links_expire_and_manage_links_do_not(settings):
    settings.OPS_SUBSCRIBE_CONFIRM_HOURS = 48
    confirm, manage = tokens.confirm_token(_Sub()), tokens.manage_token(_Sub())
    assert tokens.read_confirm_token(confirm) == tokens.TokenData("sub_abc", 3)
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        with pytest.raises(tokens.BadToken) as exc:
            tokens.read_confirm_token(confirm)
        assert exc.value.expired
        assert tokens.read_manage_token(manage).public_id == "sub_abc"
    # One kind of link is not another.
    with pytest.raises(tokens.BadToken):
        tokens.read_manage_token(confirm)
    with pytest.raises(tokens.BadToken):
        tokens.read_confirm_token(manage)
    with pytest.raises(tokens.BadToken):
        tokens.read_manage_token(manage[:-2] + "xx")


def test_a_manage_link_is_the_same_whatever_second_it_is_written_in():
    # The List-Unsubscribe header and the body's links are written at different instants of one send.
    first = tokens.manage_token(_Sub())
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert tokens.manage_token(_Sub()) == first
        assert tokens.unsubscribe_url(_Sub()).endswith(first)


def test_links_written_with_a_timestamp_before_still_read():
    from django.core import signing

    old = signing.dumps({"s": "sub_abc", "v": 3}, salt=tokens.MANAGE_SALT, compress=True)
    assert tokens.read_manage_token(old) == tokens.TokenData("sub_abc", 3)
    old_webhook = signing.dumps({"w": "whk_1"}, salt=tokens.WEBHOOK_SALT, compress=True)
    assert tokens.read_webhook_token(old_webhook) == "whk_1"
