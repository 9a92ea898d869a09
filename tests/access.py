"""Logging in for tests the way allauth does it, second factor included.

`Client` (the `client` fixture, see tests/conftest.py) is Django's test client whose `force_login(user)`
also records, in the session, what allauth records after a real login: the password step and, for a user
who needs a second factor (superusers, OPS_MFA_REQUIRED_GROUPS), a TOTP step with a TOTP enrolled for them.
Enforcement stays on: `password_only_login()` gives a session that has passed the password alone.
"""

from __future__ import annotations

import time

import django.test
from django.contrib.auth.models import AbstractBaseUser

_AUTH_RECORDS = "account_authentication_methods"  # allauth.account.internal.flows.login
_AUTH_RECORDS_USER = "account_authentication_methods_user"


def enrol_totp(user: AbstractBaseUser, secret: str | None = None):
    """The user's TOTP authenticator (made, with a fresh or given secret, if they have none)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is not None:
        return existing
    return TOTP.activate(user, secret or generate_totp_secret()).instance


def totp_secret(user: AbstractBaseUser) -> str:
    from allauth.mfa.utils import decrypt

    return decrypt(enrol_totp(user).data["secret"])


def totp_code(user: AbstractBaseUser, at: float | None = None) -> str:
    """The code the user's authenticator app would show now (or at `at`)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time() if at is None else at) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(totp_secret(user), counter))


def record_login(client: django.test.Client, user: AbstractBaseUser, *, second_factor: bool | None = None) -> None:
    """Write allauth's authentication records into the client's session (password, then TOTP if needed)."""
    from ersen_ops.core.access.factors import user_requires_second_factor

    if second_factor is None:
        second_factor = user_requires_second_factor(user)
    now = time.time()
    records = [{"method": "password", "at": now, "username": user.get_username()}]
    if second_factor:
        authenticator = enrol_totp(user)
        records.append({"method": "mfa", "at": now, "id": authenticator.pk, "type": "totp"})
    session = client.session
    session[_AUTH_RECORDS] = records
    session[_AUTH_RECORDS_USER] = str(user.pk)
    session.save()


def record_reauthentication(client: django.test.Client, *, method: str = "mfa", at: float | None = None) -> None:
    """Add allauth's record of a re-authentication (second factor by default) to the client's session."""
    session = client.session
    records = list(session.get(_AUTH_RECORDS, []))
    entry = {"method": method, "at": time.time() if at is None else at, "reauthenticated": True}
    if method == "mfa":
        entry["type"] = "totp"
    records.append(entry)
    session[_AUTH_RECORDS] = records
    session.save()


def long_sessions(settings) -> None:
    """For tests that travel in time (to 2027): a login made today is still valid there (the session limits of
    ersen_ops.core.access.sessions and the cookie's age measure real days otherwise)."""
    settings.SESSION_COOKIE_AGE = 10 * 365 * 24 * 3600
    settings.OPS_SESSION_MAX_HOURS = 10 * 365 * 24
    settings.OPS_SESSION_IDLE_MINUTES = 10 * 365 * 24 * 60


def age_session(client: django.test.Client, minutes: float) -> None:
    """Make every authentication this session recorded `minutes` older (a login that is no longer fresh)."""
    session = client.session
    records = [{**r, "at": float(r["at"]) - minutes * 60} for r in session.get(_AUTH_RECORDS, [])]
    session[_AUTH_RECORDS] = records
    session.save()


def password_only_login(client: django.test.Client, user: AbstractBaseUser) -> None:
    """A session that has passed the password but not (yet) a second factor."""
    django.test.Client.force_login(client, user)
    record_login(client, user, second_factor=False)


class Client(django.test.Client):
    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        record_login(self, user)
