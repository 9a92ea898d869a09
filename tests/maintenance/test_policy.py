"""The seed's scheduling table as pure rules: notice, slots (through DST), freezes, overlaps, channels, per phase."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ersen_ops.core.choices import Phase
from ersen_ops.notifications.choices import Channel
from maintenance import policy
from maintenance.choices import MaintenanceType
from maintenance.policy import FreezeFacts, WindowFacts, check_schedule, next_routine_slots
from tests.maintenance.factories import JAN_TUE_0200, JUL_TUE_0200, utc

DB = 1


def facts(start, minutes=60, type=MaintenanceType.ROUTINE, components=(DB,), **kw):
    return WindowFacts(
        type=type,
        planned_start=start,
        planned_end=start + timedelta(minutes=minutes),
        components=frozenset(components),
        component_names={DB: "Database"},
        **kw,
    )


def rules(violations):
    return sorted(v.rule for v in violations)


# --- the table, for each type in each phase ------------------------------------------------------------

TABLE = [
    # type, notice, slot?, channels
    (MaintenanceType.ROUTINE, timedelta(hours=24), True, (Channel.STATUS_PAGE,)),
    (MaintenanceType.URGENT, timedelta(hours=4), False, (Channel.EMAIL, Channel.STATUS_PAGE, Channel.DISCORD)),
    (MaintenanceType.EMERGENCY, timedelta(0), False, tuple(Channel.values)),
]


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_policy_table_matches_the_seed(type_, notice, has_slot, channels):
    entry = policy.POLICY[type_]
    assert entry.notice == notice
    assert (entry.slot is not None) == has_slot
    assert set(entry.channels) == set(channels)


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_postlaunch_enforces_notice_per_type(type_, notice, has_slot, channels):
    start = JAN_TUE_0200
    assert check_schedule(facts(start, type=type_), start - notice, Phase.POSTLAUNCH) == []
    if notice:
        too_late = start - notice + timedelta(minutes=1)
        assert rules(check_schedule(facts(start, type=type_), too_late, Phase.POSTLAUNCH)) == ["notice"]


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_postlaunch_slot_rule_only_for_routine(type_, notice, has_slot, channels):
    wednesday = JAN_TUE_0200 + timedelta(days=1)
    found = rules(check_schedule(facts(wednesday, type=type_), wednesday - timedelta(days=3), Phase.POSTLAUNCH))
    assert found == (["slot"] if has_slot else [])


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_prelaunch_has_no_notice_or_slot_rule(type_, notice, has_slot, channels):
    wednesday_noon = utc(2027, 1, 13, 20, 0)
    now = wednesday_noon - timedelta(minutes=1)
    assert check_schedule(facts(wednesday_noon, type=type_), now, Phase.PRELAUNCH) == []


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_channels_per_type_postlaunch(type_, notice, has_slot, channels):
    plan = policy.channels_for(type_, Phase.POSTLAUNCH, timedelta(hours=1))
    assert set(plan.channels) == set(channels)


@pytest.mark.parametrize("type_, notice, has_slot, channels", TABLE)
def test_prelaunch_downtime_over_5_minutes_adds_discord_and_slack(type_, notice, has_slot, channels):
    long = policy.channels_for(type_, Phase.PRELAUNCH, timedelta(minutes=6))
    assert {Channel.DISCORD, Channel.SLACK} <= set(long.channels)
    assert set(channels) <= set(long.channels)
    assert any("exceeds 5 min" in r for r in long.reasons) or type_ == MaintenanceType.EMERGENCY
    short = policy.channels_for(type_, Phase.PRELAUNCH, timedelta(minutes=5))
    assert set(short.channels) == set(channels)


def test_prelaunch_routine_over_5_minutes_requires_discord_and_slack_with_reason():
    plan = policy.channels_for(MaintenanceType.ROUTINE, Phase.PRELAUNCH, timedelta(minutes=30))
    assert plan.channels == (Channel.STATUS_PAGE, Channel.DISCORD, Channel.SLACK)
    assert "Pre-launch: planned downtime 30 min exceeds 5 min, so Discord and Slack are notified too." in plan.reasons


# --- DST: the slot is 02:00–04:00 local time all year ------------------------------------------------------


def test_tuesday_0200_0300_in_january_pst_passes():
    assert check_schedule(facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH) == []


def test_tuesday_0200_0300_in_july_pdt_passes():
    assert check_schedule(facts(JUL_TUE_0200), JUL_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH) == []


def test_the_same_utc_time_as_january_fails_in_july():
    # 10:00 UTC is 02:00 PST but 03:00 PDT: 03:00–04:00 PDT is fine, 03:30–04:30 crosses 04:00.
    july_1030_utc = JUL_TUE_0200 + timedelta(hours=1, minutes=30)
    assert rules(check_schedule(facts(july_1030_utc), july_1030_utc - timedelta(days=2), Phase.POSTLAUNCH)) == ["slot"]


@pytest.mark.parametrize("base", [JAN_TUE_0200, JUL_TUE_0200], ids=["PST", "PDT"])
def test_start_at_0130_fails(base):
    start = base - timedelta(minutes=30)
    violations = check_schedule(facts(start), start - timedelta(days=2), Phase.POSTLAUNCH)
    assert rules(violations) == ["slot"]
    assert "01:30–02:30" in violations[0].message


@pytest.mark.parametrize("base", [JAN_TUE_0200, JUL_TUE_0200], ids=["PST", "PDT"])
def test_window_crossing_0400_fails(base):
    start = base + timedelta(hours=1, minutes=30)  # 03:30–04:30
    violations = check_schedule(facts(start), start - timedelta(days=2), Phase.POSTLAUNCH)
    assert rules(violations) == ["slot"]
    assert "03:30–04:30" in violations[0].message


@pytest.mark.parametrize("base", [JAN_TUE_0200, JUL_TUE_0200], ids=["PST", "PDT"])
def test_wednesday_fails(base):
    start = base + timedelta(days=1)
    violations = check_schedule(facts(start), start - timedelta(days=2), Phase.POSTLAUNCH)
    assert rules(violations) == ["slot"]
    assert "Wed" in violations[0].message and "Tuesday or Thursday" in violations[0].message


def test_thursday_full_slot_0200_0400_passes():
    thursday = JAN_TUE_0200 + timedelta(days=2)
    assert check_schedule(facts(thursday, minutes=120), thursday - timedelta(days=2), Phase.POSTLAUNCH) == []


def test_window_longer_than_the_slot_says_so():
    violations = check_schedule(facts(JAN_TUE_0200, minutes=150), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH)
    assert "lasts 2 h 30 min, longer than the 2 h slot" in violations[0].message


def test_next_routine_slots_are_2am_local_through_dst():
    # From Saturday 6 March 2027 (PST) across the 14 March switch to PDT.
    slots = next_routine_slots(utc(2027, 3, 6, 12, 0), count=4)
    local = [policy.fmt_local(s) for s, _ in slots]
    assert local == [
        "Tue 2027-03-09 02:00 PST",
        "Thu 2027-03-11 02:00 PST",
        "Tue 2027-03-16 02:00 PDT",
        "Thu 2027-03-18 02:00 PDT",
    ]
    assert [(e - s) for s, e in slots] == [timedelta(hours=2)] * 4
    assert slots[0][0] == utc(2027, 3, 9, 10, 0) and slots[2][0] == utc(2027, 3, 16, 9, 0)


def test_next_routine_slots_include_a_slot_starting_exactly_at_after():
    assert next_routine_slots(JAN_TUE_0200, 1)[0][0] == JAN_TUE_0200


# --- notice edges --------------------------------------------------------------------------------------------


def test_routine_window_with_exactly_24h_notice_passes():
    assert check_schedule(facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(hours=24), Phase.POSTLAUNCH) == []


def test_routine_window_needs_24h_notice():
    now = JAN_TUE_0200 - timedelta(hours=23, minutes=59)
    violations = check_schedule(facts(JAN_TUE_0200), now, Phase.POSTLAUNCH)
    assert [v.message for v in violations] == [
        "Routine maintenance needs 24 h notice; scheduling now gives 23 h 59 min. "
        "Pick a slot on or after Thu 2027-01-14 02:00 PST, or use the urgent type."
    ]


def test_notice_message_matches_the_issue_example():
    # Scheduling at Tue 2026-12-01 06:48 PST a Wednesday 02:00 window gives 19 h 12 min.
    start = utc(2026, 12, 2, 10, 0)
    now = start - timedelta(hours=19, minutes=12)
    messages = [v.message for v in check_schedule(facts(start), now, Phase.POSTLAUNCH)]
    assert messages[0] == (
        "Routine maintenance needs 24 h notice; scheduling now gives 19 h 12 min. "
        "Pick a slot on or after Thu 2026-12-03 02:00 PST, or use the urgent type."
    )


def test_urgent_window_needs_4h_notice_and_suggests_emergency():
    start = utc(2027, 1, 13, 20, 0)
    message = check_schedule(facts(start, type=MaintenanceType.URGENT), start - timedelta(hours=3), Phase.POSTLAUNCH)[
        0
    ].message
    assert message == (
        "Urgent maintenance needs 4 h notice; scheduling now gives 3 h. "
        "Start on or after Wed 2027-01-13 13:00 PST, or use the emergency type."
    )
    exact = check_schedule(facts(start, type=MaintenanceType.URGENT), start - timedelta(hours=4), Phase.POSTLAUNCH)
    assert exact == []


def test_emergency_may_start_immediately():
    now = utc(2027, 1, 13, 20, 0)
    assert check_schedule(facts(now, type=MaintenanceType.EMERGENCY), now, Phase.POSTLAUNCH) == []


def test_start_in_the_past_is_named():
    now = JAN_TUE_0200 + timedelta(minutes=10)
    message = check_schedule(facts(JAN_TUE_0200), now, Phase.POSTLAUNCH)[0].message
    assert "scheduling now gives none (the start is 10 min in the past)" in message


def test_end_must_follow_start():
    bad = WindowFacts(type="routine", planned_start=JAN_TUE_0200, planned_end=JAN_TUE_0200, components=frozenset({DB}))
    assert rules(check_schedule(bad, JAN_TUE_0200 - timedelta(days=2), Phase.PRELAUNCH)) == ["end_after_start"]


def test_a_window_needs_an_affected_component():
    violations = check_schedule(facts(JAN_TUE_0200, components=()), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH)
    assert rules(violations) == ["components"]


# --- freezes and overlaps -------------------------------------------------------------------------------------

FREEZE = FreezeFacts(name="Holiday freeze", start=utc(2027, 1, 11), end=utc(2027, 1, 14))


@pytest.mark.parametrize("type_", [MaintenanceType.ROUTINE, MaintenanceType.URGENT])
def test_freeze_refuses_routine_and_urgent_and_names_the_freeze(type_):
    violations = check_schedule(
        facts(JAN_TUE_0200, type=type_), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH, freezes=[FREEZE]
    )
    assert rules(violations) == ["freeze"]
    assert "the freeze “Holiday freeze”" in violations[0].message


def test_freeze_applies_pre_launch_too():
    violations = check_schedule(
        facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(hours=1), Phase.PRELAUNCH, freezes=[FREEZE]
    )
    assert rules(violations) == ["freeze"]


def test_emergency_inside_a_freeze_needs_a_justification():
    now = JAN_TUE_0200
    bare = check_schedule(facts(now, type=MaintenanceType.EMERGENCY), now, Phase.POSTLAUNCH, freezes=[FREEZE])
    assert [v.message for v in bare] == [
        "Emergency maintenance inside the freeze “Holiday freeze” (Sun 2027-01-10 16:00 PST – Wed 2027-01-13 16:00 PST) "
        "needs a written justification."
    ]
    justified = facts(now, type=MaintenanceType.EMERGENCY, justification="Database corruption, customers down.")
    assert check_schedule(justified, now, Phase.POSTLAUNCH, freezes=[FREEZE]) == []


def test_freeze_outside_the_window_is_ignored():
    later = FreezeFacts(name="Later", start=JAN_TUE_0200 + timedelta(hours=1), end=JAN_TUE_0200 + timedelta(days=1))
    assert (
        check_schedule(facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH, freezes=[later]) == []
    )


def test_overlap_on_the_same_component_names_the_other_window():
    other = facts(JAN_TUE_0200 + timedelta(minutes=30), title="Kernel patch", public_id="mnt_other", status="scheduled")
    violations = check_schedule(
        facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH, overlapping=[other]
    )
    assert [v.message for v in violations] == [
        "Overlaps “Kernel patch” (mnt_other, scheduled, Tue 2027-01-12 02:30–03:30 PST) on Database: "
        "two windows may not touch the same component at the same time."
    ]


def test_no_overlap_on_other_components_or_adjacent_times():
    elsewhere = facts(JAN_TUE_0200, components=(2,), title="Other", public_id="mnt_x", status="scheduled")
    adjacent = facts(JAN_TUE_0200 + timedelta(hours=1), title="Next", public_id="mnt_y", status="scheduled")
    assert (
        check_schedule(
            facts(JAN_TUE_0200), JAN_TUE_0200 - timedelta(days=2), Phase.POSTLAUNCH, overlapping=[elsewhere, adjacent]
        )
        == []
    )


# --- gates and approvals ----------------------------------------------------------------------------------


def test_start_gate_lists_missing_before_items():
    items = [
        policy.ItemFacts("Backup completed and verified", "before", False),
        policy.ItemFacts("Rollback plan documented", "before", True),
    ]
    violations = policy.check_start(
        window_type="routine", phase="postlaunch", planned_start=JAN_TUE_0200, now=JAN_TUE_0200, items=items
    )
    assert [v.message for v in violations] == [
        "Cannot start: 1 “before” item(s) not done: “Backup completed and verified”."
    ]


def test_emergency_start_with_justification_passes_the_gate():
    items = [policy.ItemFacts("Backup completed and verified", "before", False)]
    kw = dict(
        window_type="emergency",
        phase="postlaunch",
        planned_start=JAN_TUE_0200,
        now=JAN_TUE_0200 - timedelta(hours=1),
        items=items,
    )
    assert policy.check_start(**kw, justification="Site down") == []
    assert "Emergency windows may start at once" in policy.check_start(**kw)[0].message


def test_owner_alone_cannot_complete_a_before_item_postlaunch():
    assert not policy.item_done(live_approver_ids=[7], required=1, owner_id=7, sod_applies=True)
    assert policy.item_done(live_approver_ids=[7], required=1, owner_id=7, sod_applies=False)
    assert policy.item_done(live_approver_ids=[7, None], required=2, owner_id=7, sod_applies=True)


def test_fmt_duration():
    assert policy.fmt_duration(timedelta(hours=19, minutes=12, seconds=59)) == "19 h 12 min"
    assert policy.fmt_duration(timedelta(hours=24)) == "24 h"
    assert policy.fmt_duration(timedelta(minutes=5)) == "5 min"


# --- next valid slots: the same check as scheduling (issue 14 point 3) ------------------------------------------

WEBSITE = 7
NOW = JAN_TUE_0200 - timedelta(hours=20)  # Mon 11 Jan 06:00 PST: Tue 12 is too close, the first slot is Thu 14
THURSDAY = utc(2027, 1, 14, 10, 0)  # Thu 14 Jan 02:00 PST
NEXT_TUESDAY = utc(2027, 1, 19, 10, 0)


def _release_24(start, minutes=60, components=(WEBSITE,)):
    return WindowFacts(
        type=MaintenanceType.ROUTINE,
        planned_start=start,
        planned_end=start + timedelta(minutes=minutes),
        components=frozenset(components),
        title="Deploy release 2.4",
        public_id="mnt_24",
        status="scheduled",
        component_names={WEBSITE: "Website"},
    )


def _draft(minutes=60):
    return facts(utc(2027, 1, 13, 18, 0), minutes=minutes, components=(WEBSITE,))  # Wed 10:00 PST: no slot


def test_a_slot_taken_on_the_windows_component_is_not_offered_but_its_rest_is():
    taken = _release_24(THURSDAY)
    slots = policy.valid_slots(_draft(), NOW, Phase.POSTLAUNCH, overlapping=[taken])
    # Thu 02:00–03:00 is "Deploy release 2.4" on Website: the rest of that slot (03:00–04:00) fits the hour.
    assert slots[:2] == [
        (THURSDAY + timedelta(hours=1), THURSDAY + timedelta(hours=2)),
        (NEXT_TUESDAY, NEXT_TUESDAY + timedelta(hours=1)),
    ]
    assert len(slots) == 4
    for start, end in slots:  # every offer passes the very check scheduling makes
        moved = replace(_draft(), planned_start=start, planned_end=end)
        assert check_schedule(moved, NOW, Phase.POSTLAUNCH, overlapping=[taken]) == []


def test_a_slot_whose_rest_is_too_short_is_skipped_and_other_components_do_not_block():
    long_release = _release_24(THURSDAY, minutes=90)  # leaves 30 min of the slot: a 90-min window does not fit
    assert policy.valid_slots(_draft(90), NOW, Phase.POSTLAUNCH, overlapping=[long_release])[0][0] == NEXT_TUESDAY
    elsewhere = _release_24(THURSDAY, minutes=90, components=(DB,))
    assert policy.valid_slots(_draft(90), NOW, Phase.POSTLAUNCH, overlapping=[elsewhere])[0][0] == THURSDAY


def test_freezes_and_notice_are_part_of_the_slot_check():
    freeze = FreezeFacts("Release freeze", utc(2027, 1, 14, 0, 0), utc(2027, 1, 20, 0, 0))
    slots = policy.valid_slots(_draft(), NOW, Phase.POSTLAUNCH, freezes=[freeze])
    assert slots[0][0] == utc(2027, 1, 21, 10, 0)  # Thu 14 and Tue 19 are frozen; Tue 12 lacks 24 h notice
    assert policy.valid_slots(_draft(), NOW - timedelta(hours=5), Phase.POSTLAUNCH)[0][0] == JAN_TUE_0200


def test_a_refusal_names_only_slots_this_window_can_use():
    [refusal] = check_schedule(_draft(), NOW, Phase.POSTLAUNCH, overlapping=[_release_24(THURSDAY)])
    assert refusal.rule == "slot"
    assert "Next valid slots for this window: Thu 2027-01-14 03:00 PST, Tue 2027-01-19 02:00 PST," in refusal.message
    [too_long] = check_schedule(_draft(150), NOW, Phase.POSTLAUNCH)
    assert too_long.message.endswith("No slot in the next 8 weeks fits this window.")
