"""Sending a queued delivery. Placeholder until the channel implementations land (issue 3)."""

from __future__ import annotations


def send(delivery_id: int) -> None:
    return None
