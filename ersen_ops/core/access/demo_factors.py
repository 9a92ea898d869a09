"""Demo logins with a second factor already enrolled, and their current codes (for `make run` newcomers).

seed_demo gives every demo user whose role needs a second factor a TOTP (allauth.mfa's authenticator);
`manage.py totp_code USERNAME` (`make code U=USERNAME`) prints the code an authenticator app would show.
"""

from __future__ import annotations

import time

from ersen_ops.audit.services import record
from ersen_ops.core.access.choices import AccessEvent
from ersen_ops.core.access.factors import user_requires_second_factor


class NoTOTP(Exception):
    """The user has no authenticator app enrolled."""


def ensure_demo_totp(user) -> bool:
    """Enrol a TOTP for a demo user who needs a second factor and has none. True when one was made."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    if not user_requires_second_factor(user):
        return False
    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        return False
    authenticator = TOTP.activate(user, generate_totp_secret()).instance
    record(
        actor="system:seed_demo",
        action=AccessEvent.FACTOR_ADDED,
        target=user,
        data={"type": "totp", "authenticator_id": authenticator.pk, "demo": True},
    )
    return True


def totp_secret(user) -> str:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        raise NoTOTP(f"{user.get_username()} has no authenticator app enrolled")
    return decrypt(authenticator.data["secret"])


def current_code(user, *, now: float | None = None) -> tuple[str, int]:
    """(the current code, seconds it stays valid)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    now = time.time() if now is None else now
    period = app_settings.TOTP_PERIOD
    code = format_hotp_value(hotp_value(totp_secret(user), int(now) // period))
    return code, period - int(now) % period
