"""Capped capture of a command's output: the first 64 KiB and the last 256 KiB, and how much was dropped.

A command that prints gigabytes costs at most 320 KiB of memory per stream and per stored step.
"""

from __future__ import annotations

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 256 * 1024


class CappedBuffer:
    def __init__(self, head_limit: int = HEAD_BYTES, tail_limit: int = TAIL_BYTES):
        self.head_limit = head_limit
        self.tail_limit = tail_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.version = 0  # bumps on every write, so the runner knows when to flush

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        self.version += 1
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        """Head + (a marker naming the dropped byte count) + tail, as text safe for any database."""
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            body = f"{head}\n… [{self.dropped} bytes dropped: output is capped to the first 64 KiB and the last 256 KiB] …\n{tail}"
        else:
            body = head + tail
        return body.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL

    def last_text(self, limit: int = 65536) -> str:
        data = bytes(self.head + self.tail) if not self.dropped else bytes(self.tail)
        return data[-limit:].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
