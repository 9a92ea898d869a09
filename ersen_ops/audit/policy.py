"""Pure rules of the audit log: does the table still hold what the witness saw? (no database, no clock)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from ersen_ops.audit.choices import ANONYMOUS_ACTOR, TOKEN_ACTOR_PREFIX, ActorKind
from ersen_ops.audit.witness import WitnessLine


def actor_kind(*, actor_id: int | None, actor_name: str) -> ActorKind:
    """A user, or an anonymous visitor, is a person; "token:…" is an API token; anything else the system."""
    if actor_id is not None or actor_name == ANONYMOUS_ACTOR:
        return ActorKind.PERSON
    if actor_name.startswith(TOKEN_ACTOR_PREFIX):
        return ActorKind.TOKEN
    return ActorKind.SYSTEM


@dataclass(frozen=True)
class WitnessFacts:
    """What the table holds around the witnessed head (see selectors.witness_facts)."""

    head_hash: str | None  # the hash of the witnessed event in the table; None when it is gone
    count_up_to: int  # events with id <= the witnessed id
    last_id_up_to: int | None  # the newest id <= the witnessed id
    first_id_after: int | None  # the oldest id > the witnessed id (events appended since)
    count_after: int


def short_hash(value: str) -> str:
    return f"{value[:16]}…" if value else "(none)"


def witness_when(line: WitnessLine) -> str:
    return line.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _saw(line: WitnessLine) -> str:
    return (
        f"the witness of {witness_when(line)} saw {line.count:,} event{'s' if line.count != 1 else ''} "
        f"ending at #{line.event_id} with hash {short_hash(line.hash)}"
    )


def _table_end(facts: WitnessFacts, line: WitnessLine) -> str:
    if facts.last_id_up_to is None and facts.first_id_after is None:
        return "the table is empty"
    if facts.last_id_up_to is None:
        text = f"the table has no event up to #{line.event_id}"
    else:
        text = f"the table ends at #{facts.last_id_up_to} ({facts.count_up_to:,} up to #{line.event_id})"
    if facts.first_id_after is not None:
        text += f", then goes on from #{facts.first_id_after} ({facts.count_after:,} newer)"
    return text


def witness_problem(line: WitnessLine, facts: WitnessFacts) -> str:
    """Why the table does not hold what the witness saw ("" when it does), naming the missing range."""
    if line.event_id == 0:
        return ""  # the log was empty when witnessed: anything is longer
    if facts.head_hash is None:
        start = (facts.last_id_up_to or 0) + 1
        missing = f"events #{start}–#{line.event_id} are" if start < line.event_id else f"event #{line.event_id} is"
        return f"{missing} missing: {_saw(line)}, {_table_end(facts, line)}"
    if facts.head_hash != line.hash:
        return (
            f"event #{line.event_id} is not the one witnessed (the log was rewritten): {_saw(line)}, "
            f"the table's #{line.event_id} has hash {short_hash(facts.head_hash)}"
        )
    if facts.count_up_to != line.count:
        lost = line.count - facts.count_up_to
        what = (
            f"{lost:,} event{'s' if lost != 1 else ''} before #{line.event_id} are missing"
            if lost > 0
            else (
                f"the table has {-lost:,} more event{'s' if lost != -1 else ''} up to #{line.event_id} than witnessed"
            )
        )
        return f"{what}: {_saw(line)}, the table has {facts.count_up_to:,} up to #{line.event_id}"
    return ""
