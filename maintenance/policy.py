"""The seed's maintenance protocol as pure rules: no database, `now` always passed in.

Table-driven from maintenance-window-best-practices.md:

| type      | notice | window                         | channels                     |
|-----------|--------|--------------------------------|------------------------------|
| routine   | 24 h   | 02:00–04:00 Pacific, Tue/Thu   | status page                  |
| urgent    | 4 h    | as soon as possible            | email + status page + Discord|
| emergency | 0 h    | immediate                      | all channels                 |

Pre-launch: no notice or slot rule, but planned downtime over 5 minutes must be
announced on Discord and Slack. "Pacific" is `settings.OPS_MAINTENANCE_TZ`
(America/Los_Angeles), so the slot stays 2–4 AM local time through daylight saving.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from ersen_ops.core import wording
from ersen_ops.core.choices import Phase
from ersen_ops.core.wording import maintenance_zone
from ersen_ops.notifications.choices import Channel
from maintenance.choices import TRANSITIONS, ChecklistPhase, ItemKey, MaintenanceType, WindowStatus

# --- The table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Allowed local slot: weekdays (Mon=0) and local start/end times."""

    weekdays: tuple[int, ...]
    start: time
    end: time

    def describe(self) -> str:
        days = " or ".join(_WEEKDAY_NAMES[d] for d in self.weekdays)
        return f"{self.start:%H:%M}–{self.end:%H:%M} Pacific on a {days}"


@dataclass(frozen=True)
class TypePolicy:
    type: str
    name: str  # "Routine", used in messages
    notice: timedelta
    slot: Slot | None  # None: any time ("as soon as possible" / "immediate")
    window_text: str
    channels: tuple[str, ...]
    escalate_to: str  # the type to suggest when this one's notice is too short
    may_override_freeze: bool = False  # with a written justification
    may_start_early: bool = False  # start before the announced start, even with open "before" items (justified)


_WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TUESDAY, THURSDAY = 1, 3

ROUTINE_SLOT = Slot(weekdays=(TUESDAY, THURSDAY), start=time(2, 0), end=time(4, 0))
ALL_CHANNELS = tuple(Channel.values)

POLICY: dict[str, TypePolicy] = {
    MaintenanceType.ROUTINE: TypePolicy(
        type=MaintenanceType.ROUTINE,
        name="Routine",
        notice=timedelta(hours=24),
        slot=ROUTINE_SLOT,
        window_text="2-4 AM Pacific, Tue/Thu",
        channels=(Channel.STATUS_PAGE,),
        escalate_to=MaintenanceType.URGENT,
    ),
    MaintenanceType.URGENT: TypePolicy(
        type=MaintenanceType.URGENT,
        name="Urgent",
        notice=timedelta(hours=4),
        slot=None,
        window_text="As soon as possible",
        channels=(Channel.EMAIL, Channel.STATUS_PAGE, Channel.DISCORD),
        escalate_to=MaintenanceType.EMERGENCY,
    ),
    MaintenanceType.EMERGENCY: TypePolicy(
        type=MaintenanceType.EMERGENCY,
        name="Emergency",
        notice=timedelta(0),
        slot=None,
        window_text="Immediate",
        channels=ALL_CHANNELS,
        escalate_to="",
        may_override_freeze=True,
        may_start_early=True,
    ),
}

# Pre-launch: "Still notify via Discord/Slack if downtime > 5 minutes".
PRELAUNCH_NOTIFY_OVER = timedelta(minutes=5)
PRELAUNCH_CHANNELS = (Channel.DISCORD, Channel.SLACK)

# The post-maintenance summary goes to #team-ops.
SUMMARY_CHANNELS = (Channel.SLACK_TEAM_OPS,)

# Items the system approves itself (with evidence); a person may approve them only with a note.
AUTOMATED_ITEMS = frozenset(
    {
        ItemKey.STATUS_SCHEDULED,
        ItemKey.ETA_COMMUNICATED,
        ItemKey.STATUS_UNDER_MAINTENANCE,
        ItemKey.STATUS_OPERATIONAL,
        ItemKey.SUMMARY_TEAM_OPS,
    }
)

# The window states in which items of each checklist phase can be approved.
APPROVABLE_IN = {
    ChecklistPhase.BEFORE: (WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS, WindowStatus.COMPLETED),
    ChecklistPhase.DURING: (WindowStatus.IN_PROGRESS,),
    ChecklistPhase.AFTER: (WindowStatus.COMPLETED,),
}


def routine_rule_text() -> str:
    """The routine rule in words, from the table: '24 h notice, 02:00–04:00 Pacific on a Tuesday or Thursday'
    (templates show this instead of a copy of it)."""
    rule = POLICY[MaintenanceType.ROUTINE]
    return f"{fmt_duration(rule.notice)} notice, {rule.slot.describe()}"


def routine_slot_label() -> str:
    """A calendar day's routine slot, short: 'routine slot 02–04'."""
    return f"routine slot {ROUTINE_SLOT.start:%H}–{ROUTINE_SLOT.end:%H}"


# --- Formatting (used in every message, so numbers read the same everywhere): the wording module's ------------

fmt_duration = wording.duration  # '24 h', '19 h 12 min', '45 min'
fmt_local = wording.in_pacific  # 'Tue 2027-01-12 02:00 PST' (Django date format characters)
fmt_local_range = wording.pacific_range  # 'Tue 2027-01-12 02:00–03:00 PST'


# --- Facts the rules look at -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowFacts:
    type: str
    planned_start: datetime
    planned_end: datetime
    components: frozenset = frozenset()  # component ids
    title: str = ""
    public_id: str = ""
    status: str = WindowStatus.DRAFT
    justification: str = ""  # emergency only: why a freeze is overridden
    component_names: dict = field(default_factory=dict, compare=False, hash=False)  # id -> name, for messages


@dataclass(frozen=True)
class FreezeFacts:
    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Violation:
    rule: str  # notice | slot | overlap | freeze | end_after_start | past | components
    message: str

    def __str__(self) -> str:
        return self.message


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


# --- Slots ---------------------------------------------------------------------------------------------


def in_routine_slot(start: datetime, end: datetime, slot: Slot = ROUTINE_SLOT) -> bool:
    """True when [start, end] lies inside one slot, in local (Pacific) time."""
    zone = maintenance_zone()
    local_start = start.astimezone(zone)
    if local_start.weekday() not in slot.weekdays:
        return False
    slot_start = datetime.combine(local_start.date(), slot.start, tzinfo=zone)
    slot_end = datetime.combine(local_start.date(), slot.end, tzinfo=zone)
    return slot_start <= start and end <= slot_end and start < end


def next_routine_slots(after: datetime, count: int = 4, slot: Slot = ROUTINE_SLOT) -> list[tuple[datetime, datetime]]:
    """The next `count` routine slots (start, end) whose start is at or after `after`, as UTC datetimes."""
    zone = maintenance_zone()
    utc = zoneinfo.ZoneInfo("UTC")
    day = after.astimezone(zone).date()
    found: list[tuple[datetime, datetime]] = []
    while len(found) < count:
        if day.weekday() in slot.weekdays:
            start = datetime.combine(day, slot.start, tzinfo=zone)
            if start >= after:
                end = datetime.combine(day, slot.end, tzinfo=zone)
                found.append((start.astimezone(utc), end.astimezone(utc)))
        day += timedelta(days=1)
    return found


def earliest_start(window_type: str, now: datetime) -> datetime:
    """The earliest start the type's notice allows when scheduling at `now` (for routine: the next slot)."""
    policy = POLICY[window_type]
    first = now + policy.notice
    if policy.slot is not None:
        return next_routine_slots(first, 1, policy.slot)[0][0]
    return first


# --- Scheduling ---------------------------------------------------------------------------------------


# How far ahead valid slots are looked for.
SLOT_SEARCH = timedelta(weeks=8)
# Rules about *when* a window runs: a slot offered to the operator must break none of them.
TIME_RULES = frozenset({"notice", "slot", "overlap", "freeze", "past"})


def check_schedule(
    window: WindowFacts,
    now: datetime,
    phase: str,
    freezes: Iterable[FreezeFacts] = (),
    overlapping: Iterable[WindowFacts] = (),
) -> list[Violation]:
    """Everything that forbids scheduling (announcing) `window` at `now`. Empty list: it may be scheduled.

    `freezes` and `overlapping` may cover more time than the window (the rules pick what touches it): given
    the next weeks', a notice or slot refusal names the next slots where *this* window passes every rule.
    """
    freezes, overlapping = list(freezes), list(overlapping)
    violations = _violations(window, now, phase, freezes, overlapping)
    rule = POLICY[window.type]
    if rule.slot is not None and any(v.rule in ("notice", "slot") for v in violations):
        slots = valid_slots(window, now, phase, freezes, overlapping)
        violations = [_with_slots(v, rule, slots, now) for v in violations]
    return violations


def valid_slots(
    window: WindowFacts,
    now: datetime,
    phase: str,
    freezes: Iterable[FreezeFacts] = (),
    overlapping: Iterable[WindowFacts] = (),
    count: int = 4,
) -> list[tuple[datetime, datetime]]:
    """The next `count` (start, end) where `window`, with its planned duration, passes every rule about time
    (notice, slot, freezes, other windows on its components) — the same check scheduling makes.

    One placement per routine slot: the slot's start, else the earliest moment in it when what blocks it (a
    window on the same components, a freeze) is over, if the window still fits before the slot ends.
    """
    rule = POLICY[window.type]
    slot = rule.slot or ROUTINE_SLOT
    freezes, overlapping = list(freezes), list(overlapping)
    slot_length = datetime.combine(datetime.min, slot.end) - datetime.combine(datetime.min, slot.start)
    duration = window.planned_end - window.planned_start
    if duration <= timedelta(0):
        duration = slot_length
    if duration > slot_length:
        return []
    notice = rule.notice if phase == Phase.POSTLAUNCH else timedelta(0)
    earliest = now + notice
    blockers = [f.end for f in freezes] + [o.planned_end for o in overlapping if window.components & o.components]
    found: list[tuple[datetime, datetime]] = []
    for slot_start, slot_end in next_routine_slots(earliest - slot_length, 4 * 7 * 2, slot):
        if slot_start - earliest > SLOT_SEARCH or len(found) >= count:
            break
        # The notice does not cut slots into pieces (a slot starts at its start); other windows and freezes do.
        candidates = sorted({slot_start, *blockers})
        for start in (c for c in candidates if slot_start <= c < slot_end and c >= earliest):
            end = start + duration
            if end > slot_end:
                break
            facts = replace(window, planned_start=start, planned_end=end)
            if not any(v.rule in TIME_RULES for v in _violations(facts, now, phase, freezes, overlapping)):
                found.append((start, end))
                break
    return found


def _with_slots(
    violation: Violation, rule: TypePolicy, slots: list[tuple[datetime, datetime]], now: datetime
) -> Violation:
    """Name the next slots this window can really use in a notice or slot refusal (never a taken one)."""
    if violation.rule == "notice" and slots:
        earliest = f"on or after {fmt_local(earliest_start(rule.type, now))}"
        return replace(violation, message=violation.message.replace(earliest, f"on or after {fmt_local(slots[0][0])}"))
    if violation.rule == "slot":
        listed = (
            "Next valid slots for this window: " + ", ".join(fmt_local(s) for s, _ in slots) + "."
            if slots
            else f"No slot in the next {SLOT_SEARCH.days // 7} weeks fits this window."
        )
        return replace(violation, message=f"{violation.message} {listed}")
    return violation


def _violations(
    window: WindowFacts,
    now: datetime,
    phase: str,
    freezes: Iterable[FreezeFacts] = (),
    overlapping: Iterable[WindowFacts] = (),
) -> list[Violation]:
    policy = POLICY[window.type]
    start, end = window.planned_start, window.planned_end
    violations: list[Violation] = []
    if end <= start:
        return [
            Violation(
                "end_after_start",
                f"The planned end ({fmt_local(end)}) must be after the planned start ({fmt_local(start)}).",
            )
        ]
    if end <= now:
        violations.append(
            Violation("past", f"The planned end ({fmt_local(end)}) is already in the past (now {fmt_local(now)}).")
        )
    if not window.components:
        violations.append(
            Violation(
                "components", "Name at least one affected component: the status page shows them under maintenance."
            )
        )

    if phase == Phase.POSTLAUNCH:
        notice = start - now
        # Emergency (0 h, "immediate"): any start works, even one a few minutes past.
        if policy.notice > timedelta(0) and notice < policy.notice:
            violations.append(Violation("notice", _notice_message(policy, notice, now)))
        if policy.slot is not None and not in_routine_slot(start, end, policy.slot):
            violations.append(Violation("slot", _slot_message(policy, start, end, now)))

    for freeze in freezes:
        if not overlaps(start, end, freeze.start, freeze.end):
            continue
        where = f"the freeze “{freeze.name}” ({fmt_local_range(freeze.start, freeze.end)})"
        if not policy.may_override_freeze:
            violations.append(
                Violation(
                    "freeze",
                    f"{policy.name} maintenance may not be scheduled inside {where}; "
                    f"move it after {fmt_local(freeze.end)} or, for a critical outage, use the emergency type.",
                )
            )
        elif not window.justification.strip():
            violations.append(
                Violation("freeze", f"Emergency maintenance inside {where} needs a written justification.")
            )

    for other in overlapping:
        shared = window.components & other.components
        if not shared or not overlaps(start, end, other.planned_start, other.planned_end):
            continue
        names = sorted(other.component_names.get(c) or window.component_names.get(c) or str(c) for c in shared)
        violations.append(
            Violation(
                "overlap",
                f"Overlaps “{other.title}” ({other.public_id}, {WindowStatus(other.status).label.lower()}, "
                f"{fmt_local_range(other.planned_start, other.planned_end)}) on {', '.join(names)}: "
                "two windows may not touch the same component at the same time.",
            )
        )
    return violations


def notice_outlook(*, window_type: str, planned_start: datetime, now: datetime, phase: str) -> tuple[str, bool]:
    """What the notice rule says about a draft if it were scheduled at `now`, and whether that is a problem
    (the control room's "notice" column): the latest moment to schedule it, or that it is too late."""
    if phase == Phase.PRELAUNCH:
        return "not announced yet (pre-launch: no notice rule)", False
    rule = POLICY[window_type]
    if not rule.notice:
        return "not announced yet (emergency: no notice needed)", False
    latest = planned_start - rule.notice
    needed = fmt_duration(rule.notice)
    if now > latest:
        return (
            f"not announced — too late for {rule.name.lower()} notice ({needed}): "
            f"it starts in {fmt_duration(planned_start - now)}",
            True,
        )
    return f"not announced — schedule by {fmt_local(latest)} for {needed} notice", False


def _notice_message(policy: TypePolicy, notice: timedelta, now: datetime) -> str:
    gives = fmt_duration(notice) if notice > timedelta(0) else f"none (the start is {fmt_duration(notice)} in the past)"
    message = f"{policy.name} maintenance needs {fmt_duration(policy.notice)} notice; scheduling now gives {gives}."
    earliest = earliest_start(policy.type, now)
    if policy.slot is not None:
        # check_schedule moves this to the first slot this window can really use.
        message += f" Pick a slot on or after {fmt_local(earliest)}"
    else:
        message += f" Start on or after {fmt_local(earliest)}"
    if policy.escalate_to:
        message += f", or use the {policy.escalate_to} type."
    else:
        message += "."
    return message


def _slot_message(policy: TypePolicy, start: datetime, end: datetime, now: datetime) -> str:
    slot = policy.slot
    slot_length = datetime.combine(datetime.min, slot.end) - datetime.combine(datetime.min, slot.start)
    length = end - start
    message = (
        f"{policy.name} maintenance must lie inside one slot, {slot.describe()}; "
        f"this window runs {fmt_local_range(start, end)}"
    )
    if length > slot_length:
        message += f" and lasts {fmt_duration(length)}, longer than the {fmt_duration(slot_length)} slot"
    return message + "."  # check_schedule adds the next valid slots for this window


@dataclass(frozen=True)
class ChannelPlan:
    channels: tuple[str, ...]
    reasons: tuple[str, ...]


def channels_for(window_type: str, phase: str, planned_duration: timedelta | None = None) -> ChannelPlan:
    """Where announcements of a window go: the type's channels, plus Discord/Slack pre-launch over 5 minutes."""
    policy = POLICY[window_type]
    channels = list(policy.channels)
    reasons = [f"{policy.name}: {', '.join(Channel(c).label for c in policy.channels)} (the protocol's table)."]
    if phase == Phase.PRELAUNCH and planned_duration is not None and planned_duration > PRELAUNCH_NOTIFY_OVER:
        added = [c for c in PRELAUNCH_CHANNELS if c not in channels]
        channels.extend(added)
        reasons.append(
            f"Pre-launch: planned downtime {fmt_duration(planned_duration)} exceeds "
            f"{fmt_duration(PRELAUNCH_NOTIFY_OVER)}, so Discord and Slack are notified too."
        )
    return ChannelPlan(tuple(channels), tuple(reasons))


# --- Lifecycle gates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFacts:
    text: str
    phase: str
    done: bool


def open_items(items: Iterable[ItemFacts], phase: str) -> list[str]:
    return [i.text for i in items if i.phase == phase and not i.done]


def _quote_list(texts: Sequence[str]) -> str:
    return "; ".join(f"“{t}”" for t in texts)


def check_start(
    *,
    window_type: str,
    phase: str,
    planned_start: datetime,
    now: datetime,
    items: Iterable[ItemFacts],
    justification: str = "",
) -> list[Violation]:
    """scheduled → in_progress: every "before" item done (emergency: may start at once, with a justification)."""
    policy = POLICY[window_type]
    missing = open_items(items, ChecklistPhase.BEFORE)
    violations = []
    justified = policy.may_start_early and bool(justification.strip())
    if missing and not justified:
        hint = " Emergency windows may start at once with a written justification." if policy.may_start_early else ""
        violations.append(
            Violation(
                "gate",
                f"Cannot start: {len(missing)} “before” item(s) not done: {_quote_list(missing)}.{hint}",
            )
        )
    if phase == Phase.POSTLAUNCH and now < planned_start and not policy.may_start_early:
        violations.append(
            Violation(
                "early",
                f"{policy.name} maintenance was announced for {fmt_local(planned_start)}; it cannot start "
                f"{fmt_duration(planned_start - now)} early (now {fmt_local(now)}). Only emergency windows start at once.",
            )
        )
    return violations


def check_complete(items: Iterable[ItemFacts]) -> list[Violation]:
    missing = open_items(items, ChecklistPhase.DURING)
    if missing:
        return [
            Violation("gate", f"Cannot complete: {len(missing)} “during” item(s) not done: {_quote_list(missing)}.")
        ]
    return []


def ready_to_close(items: Iterable[ItemFacts]) -> bool:
    return not open_items(items, ChecklistPhase.AFTER)


def check_eta(*, new_eta: datetime, now: datetime, actual_start: datetime | None, reason: str) -> list[Violation]:
    violations = []
    if not reason.strip():
        violations.append(Violation("reason", "Say why the ETA changes (it is published and kept in the history)."))
    if new_eta <= now:
        violations.append(
            Violation("eta", f"The new ETA ({fmt_local(new_eta)}) must be in the future (now {fmt_local(now)}).")
        )
    if actual_start and new_eta <= actual_start:
        violations.append(Violation("eta", "The new ETA must be after the actual start."))
    return violations


# --- Approvals ------------------------------------------------------------------------------------------

# What an item needs besides an approver, written beside it on the Approve page and used in the refusals.
ON_CALL_REQUIREMENT = "only the window's on-call engineer confirms it, on their own page (no approver role needed)"
ITEM_REQUIREMENTS = {
    ItemKey.BACKUP_VERIFIED: "needs evidence: a verified backup run of this window, or a link or note describing "
    "the verified backup (file, size, checksum)",
    ItemKey.ROLLBACK_PLAN: "needs the window's rollback plan filled in (copied into the approval)",
    ItemKey.ON_CALL_CONFIRMED: ON_CALL_REQUIREMENT,
}
AUTOMATED_REQUIREMENT = "approved automatically when the system does it; a manual approval needs a note saying how"
SOD_REQUIREMENT = "after launch, not by the window's owner alone (separation of duties)"


def item_requirements(*, item_key: str, item_phase: str, phase: str, owner_may_self_approve: bool) -> list[str]:
    """What approving this item needs, in words (empty: an approver's confirmation is enough)."""
    needs = []
    if item_key in ITEM_REQUIREMENTS:
        needs.append(ITEM_REQUIREMENTS[item_key])
    elif item_key in AUTOMATED_ITEMS:
        needs.append(AUTOMATED_REQUIREMENT)
    if separation_of_duties_applies(
        phase=phase, item_phase=item_phase, owner_may_self_approve=owner_may_self_approve, item_key=item_key
    ):
        needs.append(SOD_REQUIREMENT)
    return needs


@dataclass(frozen=True)
class ApprovalFacts:
    item_text: str
    item_key: str
    item_phase: str
    window_status: str
    window_closed: bool
    phase: str  # site phase
    actor_is_system: bool
    actor_id: int | None
    actor_name: str
    owner_id: int | None
    on_call_id: int | None
    on_call_name: str
    rollback_plan: str
    live_approver_ids: tuple  # user ids (None for system approvals) of the item's live approvals
    required_approvals: int
    owner_may_self_approve: bool
    note: str = ""
    evidence: bool = False  # an evidence URL or object is attached
    item_done: bool = False


def separation_of_duties_applies(
    *, phase: str, item_phase: str, owner_may_self_approve: bool, item_key: str = ""
) -> bool:
    """Post-launch "before" items need someone besides the owner; confirming one's own availability is no approval
    of someone else's work, so the on-call item is exempt."""
    return (
        phase == Phase.POSTLAUNCH
        and item_phase == ChecklistPhase.BEFORE
        and not owner_may_self_approve
        and item_key != ItemKey.ON_CALL_CONFIRMED
    )


def item_done(*, live_approver_ids: Sequence, required: int, owner_id, sod_applies: bool) -> bool:
    """Done when live approvals reach `required` and, under separation of duties, not all of them are the owner's."""
    if len(live_approver_ids) < max(required, 1):
        return False
    if sod_applies and owner_id is not None and all(uid == owner_id for uid in live_approver_ids):
        return False
    return True


def _state_refusal(f: ApprovalFacts) -> Violation | None:
    if f.window_status not in APPROVABLE_IN[f.item_phase] or f.window_closed:
        allowed = ", ".join(WindowStatus(s).label.lower() for s in APPROVABLE_IN[f.item_phase])
        state = "closed" if f.window_closed else WindowStatus(f.window_status).label.lower()
        return Violation(
            "state",
            f"“{f.item_text}” ({ChecklistPhase(f.item_phase).label.lower()}) can be approved while the window "
            f"is {allowed}; it is {state}.",
        )
    return None


def _on_call_refusal(f: ApprovalFacts) -> Violation | None:
    if f.on_call_id is None:
        return Violation("facts", "Set the window's on-call engineer first: only they can confirm.")
    if f.actor_id != f.on_call_id:
        return Violation("facts", f"Only the window's on-call engineer ({f.on_call_name}) can confirm being available.")
    return None


def approval_eligibility(f: ApprovalFacts) -> list[Violation]:
    """What stops this person approving this item now, whatever they type into the form (note, evidence).

    The Approve page offers only items with no refusal here, and shows the first refusal on the others' buttons.
    """
    state = _state_refusal(f)
    if state is not None:
        return [state]
    if not f.actor_is_system and f.actor_id in f.live_approver_ids:
        return [Violation("duplicate", f"{f.actor_name} has already approved “{f.item_text}”.")]
    if f.item_done:
        return [Violation("done", f"“{f.item_text}” is already done.")]
    violations = []
    if f.item_key == ItemKey.ROLLBACK_PLAN and not f.rollback_plan.strip():
        violations.append(
            Violation("facts", f"“{f.item_text}” can be approved only once the window's rollback plan is filled in.")
        )
    if f.item_key == ItemKey.ON_CALL_CONFIRMED and not f.actor_is_system:
        refusal = _on_call_refusal(f)
        if refusal is not None:
            violations.append(refusal)
    sod = separation_of_duties_applies(
        phase=f.phase, item_phase=f.item_phase, owner_may_self_approve=f.owner_may_self_approve, item_key=f.item_key
    )
    if sod and not f.actor_is_system and f.owner_id is not None and f.actor_id == f.owner_id:
        others = [uid for uid in f.live_approver_ids if uid != f.owner_id]
        if not others and f.required_approvals <= 1:
            violations.append(
                Violation(
                    "separation_of_duties",
                    f"Separation of duties: you own this window, so after launch you cannot be the sole approver "
                    f"of “{f.item_text}”. Ask another approver.",
                )
            )
    return violations


def check_approval(f: ApprovalFacts) -> list[Violation]:
    """Everything that refuses this approval: eligibility, then what the form must carry (evidence, a note)."""
    violations = approval_eligibility(f)
    if violations and violations[0].rule in ("state", "done", "duplicate"):
        return violations
    if f.item_key == ItemKey.BACKUP_VERIFIED and not f.actor_is_system and not (f.evidence or f.note.strip()):
        violations.append(Violation("facts", f"“{f.item_text}” {ITEM_REQUIREMENTS[ItemKey.BACKUP_VERIFIED]}."))
    if f.item_key in AUTOMATED_ITEMS and not f.actor_is_system and not f.note.strip():
        violations.append(
            Violation(
                "facts",
                f"“{f.item_text}” is approved automatically when the system does it; a manual approval needs a "
                "note saying how it was done.",
            )
        )
    # Keep the separation-of-duties sentence last (it names who to ask).
    violations.sort(key=lambda v: v.rule == "separation_of_duties")
    return violations


# Items no other app's evidence can approve: maintenance proves these from its own records, or only a person can.
OWN_EVIDENCE_ITEMS = AUTOMATED_ITEMS | {ItemKey.UPDATE_ETA, ItemKey.ON_CALL_CONFIRMED}


def check_evidence(item_key: str) -> list[Violation]:
    """What refuses another app's evidence for the item `item_key` (`maintenance.evidence.ChecklistEvidence`)."""
    if item_key not in ItemKey.values:
        known = ", ".join(ItemKey.values)
        return [Violation("evidence", f"“{item_key}” is not a checklist item (known items: {known}).")]
    if item_key in OWN_EVIDENCE_ITEMS:
        return [
            Violation(
                "evidence",
                f"“{ItemKey(item_key).label}” is proved by maintenance itself or by a person, not by another "
                "app's evidence.",
            )
        ]
    return []


def check_on_call_confirmation(f: ApprovalFacts) -> list[Violation]:
    """The on-call engineer's own confirmation of being available: their own act, not an approval (no role, no
    separation of duties), while "before" items can be confirmed."""
    state = _state_refusal(f)
    if state is not None:
        return [state]
    refusal = _on_call_refusal(f)
    if refusal is not None:
        return [refusal]
    if f.actor_id in f.live_approver_ids or f.item_done:
        return [Violation("duplicate", f"{f.actor_name} has already confirmed being available.")]
    return []


# --- The deploy gate (CI asks: may I deploy these components now?) -------------------------------------------


@dataclass(frozen=True)
class GateWindow:
    """A window as the deploy gate sees it: in progress (or the one the caller named), with its open "before" items."""

    public_id: str
    title: str
    type: str
    status: str
    components: frozenset  # component names
    open_before_items: tuple[str, ...] = ()
    justification: str = ""  # emergency: why it started with open items / overrides a freeze
    eta: datetime | None = None


@dataclass(frozen=True)
class GateFacts:
    phase: str
    components: tuple[str, ...]  # the deploy's components, by name
    windows: tuple[GateWindow, ...] = ()  # in-progress windows on those components, and the named one
    freezes: tuple[FreezeFacts, ...] = ()
    window: str = ""  # the public id of the window the caller named, if any
    unknown_components: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reasons: tuple[str, ...]  # in words: refusals first, then what the decision rests on and reminders
    refused_by: tuple[str, ...] = ()  # the rules that refused: components | window | checklist | freeze
    windows: tuple[str, ...] = ()  # public ids of the windows the deploy runs under
    components: tuple[str, ...] = ()  # the deploy's components as the status page names them


PRELAUNCH_GATE_REMINDER = (
    f"Still notify via Discord/Slack if downtime > {fmt_duration(PRELAUNCH_NOTIFY_OVER)} (the seed's pre-launch rule)."
)


def _names_list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _window_label(w: GateWindow) -> str:
    return f"{POLICY[w.type].name} window “{w.title}” ({w.public_id})"


def _freezes_now(freezes: Iterable[FreezeFacts], now: datetime) -> list[FreezeFacts]:
    return [f for f in freezes if f.start <= now < f.end]


def _may_override(w: GateWindow) -> bool:
    """An emergency window with a written justification may deploy inside a freeze and with open "before" items."""
    rule = POLICY[w.type]
    return rule.may_override_freeze and rule.may_start_early and bool(w.justification.strip())


def _no_window_hint() -> str:
    routine, urgent = POLICY[MaintenanceType.ROUTINE], POLICY[MaintenanceType.URGENT]
    return (
        f"Schedule and start a window first: routine ({fmt_duration(routine.notice)} notice, "
        f"{routine.window_text}), urgent for security fixes ({fmt_duration(urgent.notice)} notice) "
        "or emergency for a critical outage (immediate)."
    )


def deploy_gate(facts: GateFacts, now: datetime) -> GateDecision:
    """May a deploy of `facts.components` go out at `now`? The answer and its reasons in words.

    Post-launch a deploy needs an in-progress window covering every one of its components whose "before"
    checklist is complete, and never runs inside a freeze; the window's type brings its own rules (an emergency
    window with a written justification may deploy with open "before" items and inside a freeze, as it may
    start). Pre-launch deploys go out on the fly, with the seed's reminder to announce downtime over 5 minutes.
    A freeze holds in both phases, as it does for scheduling.
    """
    refusals: list[tuple[str, str]] = []
    notes: list[str] = []
    used: list[str] = []
    requested = tuple(dict.fromkeys(facts.components))

    if facts.unknown_components:
        refusals.append(
            (
                "components",
                f"Unknown component(s): {_names_list(facts.unknown_components)}. Use the names shown on the status page.",
            )
        )
    if not requested and not facts.unknown_components:
        refusals.append(("components", "Name at least one component the deploy touches (e.g. --components api)."))

    named = None
    if facts.window:
        named = next((w for w in facts.windows if w.public_id == facts.window), None)
        if named is None:
            refusals.append(("window", f"There is no maintenance window {facts.window}."))

    freezes = _freezes_now(facts.freezes, now)
    if facts.phase == Phase.POSTLAUNCH:
        if named is not None and named.status != WindowStatus.IN_PROGRESS:
            refusals.append(
                (
                    "window",
                    f"{_window_label(named)} is {WindowStatus(named.status).label.lower()}, not in progress: "
                    "a deploy runs only while its window is in progress (start it first).",
                )
            )
            candidates: list[GateWindow] = []
        elif named is not None:
            candidates = [named]
        else:
            candidates = [w for w in facts.windows if w.status == WindowStatus.IN_PROGRESS]
        covering: dict[str, GateWindow] = {}
        for name in requested:
            window = next((w for w in candidates if name in w.components), None)
            if window is not None:
                covering[name] = window
        uncovered = [n for n in requested if n not in covering]
        if uncovered and candidates:
            what = f"{_window_label(named)} does not cover" if named else "No in-progress maintenance window covers"
            refusals.append(("window", f"{what} {_names_list(uncovered)}. {_no_window_hint()}"))
        elif uncovered and not (named is not None and named.status != WindowStatus.IN_PROGRESS):
            refusals.append(
                (
                    "window",
                    f"Post-launch, a deploy needs an in-progress maintenance window covering its components; none "
                    f"is in progress on {_names_list(uncovered)}. {_no_window_hint()}",
                )
            )
        for window in dict.fromkeys(covering.values()):
            used.append(window.public_id)
            on = _names_list(n for n, w in covering.items() if w is window)
            if window.open_before_items and not _may_override(window):
                hint = (
                    " An emergency window may go ahead with a written justification."
                    if POLICY[window.type].may_start_early
                    else ""
                )
                refusals.append(
                    (
                        "checklist",
                        f"{_window_label(window)} has {len(window.open_before_items)} “before” item(s) not done: "
                        f"{_quote_list(window.open_before_items)}.{hint}",
                    )
                )
            elif window.open_before_items:
                notes.append(
                    f"{_window_label(window)} is in progress on {on} with open “before” item(s) "
                    f"({_quote_list(window.open_before_items)}), justified: “{window.justification.strip()}”."
                )
            else:
                notes.append(f"{_window_label(window)} is in progress on {on}; its “before” checklist is complete.")
            if window.eta is not None and window.eta < now:
                notes.append(
                    f"{_window_label(window)} is past its ETA ({fmt_local(window.eta)}, "
                    f"{fmt_duration(now - window.eta)} ago): update the ETA if it is running long."
                )
        for freeze in freezes:
            where = f"the freeze “{freeze.name}” ({fmt_local_range(freeze.start, freeze.end)})"
            overriding = [w for w in dict.fromkeys(covering.values()) if _may_override(w)]
            if overriding and len(overriding) == len(set(covering.values())):
                notes.append(f"Inside {where}: overridden by the emergency justification.")
            else:
                refusals.append(
                    (
                        "freeze",
                        f"Deploys are frozen: now ({fmt_local(now)}) is inside {where}. Only an emergency window "
                        "with a written justification may deploy during a freeze.",
                    )
                )
    else:
        for freeze in freezes:
            refusals.append(
                (
                    "freeze",
                    f"Deploys are frozen: now ({fmt_local(now)}) is inside the freeze “{freeze.name}” "
                    f"({fmt_local_range(freeze.start, freeze.end)}), which holds before launch too.",
                )
            )
        notes.append("Pre-launch: deploys may go out on the fly, no maintenance window needed.")
        for window in facts.windows:
            if window.status == WindowStatus.IN_PROGRESS and window.components & set(requested):
                used.append(window.public_id)
                notes.append(
                    f"{_window_label(window)} is in progress on {_names_list(window.components & set(requested))}."
                )
        notes.append(PRELAUNCH_GATE_REMINDER)

    allowed = not refusals
    if allowed and facts.phase == Phase.POSTLAUNCH:
        notes.insert(0, f"Allowed: a deploy of {_names_list(requested)} runs under its maintenance window.")
    return GateDecision(
        allowed=allowed,
        reasons=tuple(m for _, m in refusals) + tuple(notes),
        refused_by=tuple(dict.fromkeys(r for r, _ in refusals)),
        windows=tuple(dict.fromkeys(used)),
        components=requested,
    )


# --- Can the checklist be completed by the people who exist? ------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    active: bool = True


@dataclass(frozen=True)
class ChecklistNeed:
    text: str
    phase: str
    key: str
    required_approvals: int = 1


def _names(people: Sequence[Person]) -> str:
    return ", ".join(p.name for p in people) or "nobody"


def check_people(
    *,
    items: Sequence[ChecklistNeed],
    window_type: str,
    phase: str,
    owner: Person | None,
    on_call: Person | None,
    approvers: Sequence[Person],
    owner_may_self_approve: bool,
    approver_role: str = "Approvers",
) -> list[Violation]:
    """Who is missing for the window's checklist ever to be completed (empty: the people exist).

    Automated items need nobody. The on-call item needs the window's on-call engineer (an active account).
    Every other item needs `required_approvals` approvers; after launch a "before" item needs one besides the
    owner. An emergency may start with open "before" items (with a justification), so only its later phases count.
    """
    violations: list[Violation] = []
    may_skip_before = POLICY[window_type].may_start_early
    relevant = [i for i in items if not (may_skip_before and i.phase == ChecklistPhase.BEFORE)]
    on_call_items = [i for i in relevant if i.key == ItemKey.ON_CALL_CONFIRMED]
    if on_call_items:
        text = on_call_items[0].text
        if on_call is None:
            violations.append(
                Violation("people", f"Name the window's on-call engineer: only they can confirm “{text}”.")
            )
        elif not on_call.active:
            violations.append(
                Violation(
                    "people",
                    f"The on-call engineer {on_call.name} has no active staff account, so nobody can confirm "
                    f"“{text}”: name another on-call engineer.",
                )
            )
    short: list[ChecklistNeed] = []
    owner_only: list[ChecklistNeed] = []
    for item in relevant:
        if item.key == ItemKey.ON_CALL_CONFIRMED or item.key in AUTOMATED_ITEMS:
            continue
        if len(approvers) < max(item.required_approvals, 1):
            short.append(item)
            continue
        sod = separation_of_duties_applies(
            phase=phase, item_phase=item.phase, owner_may_self_approve=owner_may_self_approve, item_key=item.key
        )
        if sod and owner is not None and not [a for a in approvers if a.id != owner.id]:
            owner_only.append(item)
    if short:
        counts = sorted({max(i.required_approvals, 1) for i in short})
        need = " or ".join(str(c) for c in counts)
        violations.append(
            Violation(
                "people",
                f"{_quote_list([i.text for i in short])} need(s) {need} approver(s); "
                f"{len(approvers)} user(s) can approve ({_names(approvers)}). "
                f"Give someone the {approver_role} role.",
            )
        )
    if owner_only:
        violations.append(
            Violation(
                "people",
                f"After launch the owner ({owner.name}) cannot be the sole approver of {_quote_list([i.text for i in owner_only])} "
                f"(separation of duties), and nobody else can approve ({_names(approvers)}). "
                f"Give another user the {approver_role} role, or make someone else the owner.",
            )
        )
    return violations


# --- What the maintenance protocol relies on (for the control room and ops_doctor) -----------------------


def channel_reliances(phase: str):
    """From the type table (and, pre-launch, the downtime rule) and the summary's channel."""
    from ersen_ops.notifications.reliance import Reliance

    for rule in POLICY.values():
        for channel in rule.channels:
            if channel != Channel.STATUS_PAGE:
                yield Reliance(channel, f"{rule.name.lower()} maintenance announcements")
    if phase == Phase.PRELAUNCH:
        for channel in PRELAUNCH_CHANNELS:
            yield Reliance(channel, f"pre-launch downtime over {fmt_duration(PRELAUNCH_NOTIFY_OVER)}")
    for channel in SUMMARY_CHANNELS:
        yield Reliance(channel, "post-maintenance summaries (and the checklist item that waits for one)")


# --- The window's fields and workflow actions: what may change, which actions are open ------------------------

# A window's own fields, in the order the form shows them ("components" is the many-to-many).
WINDOW_FIELDS = (
    "title",
    "type",
    "planned_start",
    "planned_end",
    "components",
    "impact",
    "reason",
    "rollback_plan",
    "owner",
    "on_call_engineer",
)
# The fields that may still change in each state (None: every one); anything else is history.
EDITABLE_FIELDS: dict[str, frozenset | None] = {
    WindowStatus.DRAFT: None,
    WindowStatus.SCHEDULED: None,  # re-checked against the protocol and re-announced
    WindowStatus.IN_PROGRESS: frozenset({"rollback_plan", "on_call_engineer", "owner"}),
    WindowStatus.COMPLETED: frozenset(),
    WindowStatus.CANCELLED: frozenset(),
}
# Changes to these re-check the scheduling protocol of a scheduled window; these and the others are announced.
SCHEDULE_FIELDS = frozenset({"type", "planned_start", "planned_end", "components"})
ANNOUNCED_FIELDS = SCHEDULE_FIELDS | {"impact", "reason"}

# Each workflow action and the state it leads to, from the transition table; "update_eta" keeps the state.
ACTION_TARGETS: dict[str, str | None] = {
    "schedule": WindowStatus.SCHEDULED,
    "start": WindowStatus.IN_PROGRESS,
    "update_eta": None,
    "complete": WindowStatus.COMPLETED,
    "cancel": WindowStatus.CANCELLED,
}
ACTION_VERBS = {
    "schedule": "schedule",
    "start": "start",
    "update_eta": "update the ETA of",
    "complete": "complete",
    "cancel": "cancel",
}
ETA_STATES = (WindowStatus.IN_PROGRESS,)  # an estimated completion exists while the work runs
# The per-item actions: open while the window has a checklist that is not history yet.
CHECKLIST_ACTIONS = ("approve", "revoke")


@dataclass(frozen=True)
class ActionFacts:
    """Everything `window_actions` looks at (gathered by `maintenance.services.window_action_facts`)."""

    window: WindowFacts  # its status, type, times, components and (emergency) justification
    phase: str  # the site's phase now (scheduling)
    start_phase: str  # the phase the window was announced in (starting)
    items: tuple[ItemFacts, ...] = ()  # its checklist; completing counts "Update ETA" done when within the ETA
    freezes: tuple[FreezeFacts, ...] = ()
    overlapping: tuple[WindowFacts, ...] = ()
    people: tuple[Violation, ...] = ()  # who is missing for its checklist ever to be completed (drafts)
    justification: str = ""  # what the operator wrote to start an emergency at once
    closed: bool = False  # completed and every "after" item done


def transition_refusal(action: str, *, status: str, title: str) -> Violation | None:
    """The state rule: `action` is open only in the states the transition table allows (update_eta: ETA_STATES)."""
    target = ACTION_TARGETS[action]
    allowed_from = [s for s, targets in TRANSITIONS.items() if target in targets] if target else list(ETA_STATES)
    if status in allowed_from:
        return None
    state = WindowStatus(status).label.lower()
    if target is None:
        return Violation(
            "state",
            f"Cannot update the ETA of “{title}”: it is {state} (only an in-progress window has an ETA to update; "
            "reschedule a scheduled window instead).",
        )
    sources = ", ".join(WindowStatus(s).label.lower() for s in allowed_from)
    return Violation(
        "state",
        f"Cannot {ACTION_VERBS[action]} “{title}”: it is {state}"
        + (f" (only a {sources} window can be {WindowStatus(target).label.lower()})." if sources else "."),
    )


def window_actions(facts: ActionFacts, now: datetime) -> dict[str, list[Violation]]:
    """Every workflow action on the window and what refuses it at `now` (an empty list: it is open).

    One answer for the admin's buttons, the control room's next action, the approve links and the services
    (which raise these violations). What a written justification may lift is marked by `overridable()`."""
    w = facts.window
    actions: dict[str, list[Violation]] = {}
    for action in ACTION_TARGETS:
        refusal = transition_refusal(action, status=w.status, title=w.title)
        if refusal is not None:
            actions[action] = [refusal]
        elif action == "schedule":
            actions[action] = check_scheduling(facts, now)
        elif action == "start":
            actions[action] = check_start(
                window_type=w.type,
                phase=facts.start_phase,
                planned_start=w.planned_start,
                now=now,
                items=facts.items,
                justification=facts.justification,
            )
        elif action == "complete":
            actions[action] = check_complete(facts.items)
        else:
            actions[action] = []
    refusal = checklist_refusal(status=w.status, closed=facts.closed, title=w.title)
    for action in CHECKLIST_ACTIONS:
        actions[action] = [refusal] if refusal else []
    return actions


def check_scheduling(facts: ActionFacts, now: datetime) -> list[Violation]:
    """What forbids (re)scheduling: the people its checklist needs (drafts), then the protocol (notice, slot,
    freezes, other windows on its components)."""
    w = facts.window
    others = [] if w.planned_end <= w.planned_start else list(facts.overlapping)
    return [*facts.people, *check_schedule(w, now, facts.phase, freezes=facts.freezes, overlapping=others)]


def checklist_refusal(*, status: str, closed: bool, title: str) -> Violation | None:
    """Whether the window's checklist takes approvals and revocations: it exists once the window is scheduled
    and is history once the window is closed or cancelled."""
    if status == WindowStatus.DRAFT:
        return Violation("state", f"“{title}” has no checklist yet: it is created when the window is scheduled.")
    if closed:
        return Violation("state", f"“{title}” is closed; its checklist is history.")
    if status == WindowStatus.CANCELLED:
        return Violation("state", f"“{title}” is cancelled; its checklist is history.")
    return None


def overridable(action: str, window_type: str, violation: Violation) -> bool:
    """Whether a written justification on the confirmation page may lift `violation` (emergency windows only):
    a freeze when scheduling, open "before" items when starting."""
    rule = POLICY[window_type]
    return (action == "schedule" and violation.rule == "freeze" and rule.may_override_freeze) or (
        action == "start" and violation.rule == "gate" and rule.may_start_early
    )


def blocking(actions: dict[str, list[Violation]], window_type: str) -> dict[str, list[Violation]]:
    """`window_actions` without what a justification may lift: an action with none left has a button."""
    return {a: [v for v in vs if not overridable(a, window_type, v)] for a, vs in actions.items()}
