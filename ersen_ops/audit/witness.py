"""The witness file: the audit chain's head, written outside the database.

Every `OPS_AUDIT_CHECKPOINT_MINUTES` the checkpoint appends one line — when, the newest event's id, how many
events there were up to it, and its hash — to an append-only file that should live on another disk or host.
Someone who can bypass the table's triggers can delete or truncate events, and the hash chain of what is left
still verifies; the witness remembers how long the chain was. `audit_verify` compares the two.

A line, one per checkpoint (UTC, parseable and readable with grep):

    2026-12-01T21:35:00Z event=1250 count=1250 hash=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

An empty log is witnessed as `event=0 count=0 hash=-`.

Other apps hear of each checkpoint through `register_witness_listener()` (notifications posts it to #team-ops).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) event=(?P<event>\d+) count=(?P<count>\d+) hash=(?P<hash>[0-9a-f]{64}|-)$"
)
# How far back from the end of the file to look for the latest complete line.
_TAIL_BLOCK = 4096


@dataclass(frozen=True)
class WitnessLine:
    at: datetime
    event_id: int  # 0: the log was empty
    count: int
    hash: str  # "" when the log was empty

    def format(self) -> str:
        return (
            f"{self.at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} "
            f"event={self.event_id} count={self.count} hash={self.hash or '-'}"
        )


def parse_line(text: str) -> WitnessLine | None:
    match = _LINE.match(text.strip())
    if not match:
        return None
    return WitnessLine(
        at=datetime.strptime(match["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        event_id=int(match["event"]),
        count=int(match["count"]),
        hash="" if match["hash"] == "-" else match["hash"],
    )


def witness_path() -> Path:
    return Path(settings.OPS_AUDIT_WITNESS_FILE)


def _default_path() -> bool:
    return Path(settings.OPS_AUDIT_WITNESS_FILE) == Path(settings.OPS_AUDIT_WITNESS_FILE_DEFAULT)


@contextmanager
def locked_for_append(path: Path | None = None) -> Iterator[int]:
    """An exclusive lock on the witness file, opened for appending (created if missing, mode 0640).

    The default dev location (var/ in the project) is created on demand; a configured production path must
    already exist as a directory: a missing mount must fail loudly, not quietly write to the root disk.
    """
    path = path or witness_path()
    if _default_path():
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"OPS_AUDIT_WITNESS_FILE: the directory {path.parent} does not exist (is the witness disk mounted?)"
        )
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if created:
            # The new directory entry must survive a crash too.
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def append(fd: int, line: WitnessLine) -> None:
    """Write one line and make it durable (flushed by the single write, then fsync'd)."""
    data = (line.format() + "\n").encode("ascii")
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(f"witness file: wrote {written} of {len(data)} bytes")
    os.fsync(fd)


def latest(path: Path | None = None) -> WitnessLine | None:
    """The newest complete, well-formed line; None when the file is missing or holds none.

    Reads backwards from the end, so the cost does not grow with the file. A torn last line (a crash
    mid-write) has no newline and is ignored.
    """
    path = path or witness_path()
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        buffer = b""
        warned = False
        while position > 0:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            buffer = handle.read(step) + buffer
            complete, _, _torn = buffer.rpartition(b"\n")
            lines = complete.split(b"\n")
            # The first piece may be cut by the block boundary unless we reached the file's start.
            candidates = lines if position == 0 else lines[1:]
            for raw in reversed(candidates):
                parsed = parse_line(raw.decode("ascii", errors="replace"))
                if parsed is not None:
                    return parsed
                if raw.strip() and not warned:
                    warned = True
                    logger.warning("witness file %s: ignoring a line that is not a witness line", path)
        return None


# --- listeners: who else hears of a checkpoint --------------------------------------------------------

WitnessListener = Callable[..., None]
_listeners: list[WitnessListener] = []


def register_witness_listener(listener: WitnessListener) -> None:
    """`listener(line=WitnessLine, problem=str)` is called after each checkpoint ("" when all is well).

    A listener failing never stops the checkpoint: the file is the witness, the rest is courtesy.
    """
    if listener not in _listeners:
        _listeners.append(listener)


def tell_listeners(*, line: WitnessLine, problem: str) -> None:
    for listener in list(_listeners):
        try:
            listener(line=line, problem=problem)
        except Exception:
            logger.exception("audit witness listener %r failed", listener)
