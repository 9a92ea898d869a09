"""Stable, opaque public identifiers (not guessable from row counts)."""

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def public_id(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def component_public_id() -> str:
    return public_id("cmp_")
