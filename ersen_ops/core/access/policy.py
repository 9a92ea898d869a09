"""Who needs a second factor, and what counts as a fresh authentication: pure rules (no database)."""

from __future__ import annotations

from collections.abc import Iterable

# allauth's record of a step of authentication in the session ("method": "password" | "mfa" | "socialaccount").
PASSWORD = "password"
MFA = "mfa"
SOCIAL = "socialaccount"  # single sign-on (a provider's second factor, when trusted, is recorded as MFA)


def requires_second_factor(*, is_superuser: bool, group_names: Iterable[str], required_groups: Iterable[str]) -> bool:
    """Superusers always; everyone in one of the required groups (OPS_MFA_REQUIRED_GROUPS)."""
    return is_superuser or bool(set(group_names) & set(required_groups))


def second_factor_record(records: list[dict]) -> dict | None:
    """The latest second-factor step in allauth's session records, or None."""
    for record in reversed(records):
        if record.get("method") == MFA:
            return record
    return None


def fresh_authentication(records: list[dict], *, has_factor: bool, now: float, max_age_seconds: int) -> dict | None:
    """The latest record that proves a recent authentication: a second factor for a user who has one
    (a password alone does not do), else the password or a single sign-on. Login and re-authentication records
    both count."""
    accepted = {MFA} if has_factor else {MFA, PASSWORD, SOCIAL}
    for record in reversed(records):
        if record.get("method") in accepted and now - float(record.get("at", 0)) < max_age_seconds:
            return record
    return None


def describe(record: dict | None) -> str:
    """'totp', 'webauthn', 'recovery_codes', 'password', 'socialaccount' or '' — the factor a record names."""
    if not record:
        return ""
    if record.get("method") == MFA:
        return str(record.get("type", MFA))
    return str(record.get("method", ""))
