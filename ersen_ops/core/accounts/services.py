"""State changes of access: lifting a lockout, and every change of a user's roles or flags (audited)."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.db import transaction
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.accounts.choices import AccessAction, LockoutScope
from ersen_ops.core.accounts.policy import normalise_username
from ersen_ops.core.accounts.selectors import lockouts
from ersen_ops.core.errors import DomainError, PermissionRefused

MESSAGE_ONLY_SUPERUSERS_UNLOCK = "Only superusers can lift a lockout."
MESSAGE_NOTHING_TO_LIFT = "No failed logins are recorded for the {scope} {value}: there is no lockout to lift."


def lockout_lift(*, actor, scope: str, value: str, reason: str = "", now=None, request=None) -> int:
    """Forget the recent failed logins of one username or one address (ending its lockout); returns how many
    attempt records were removed. Audited with what the lockout was (failures, until when)."""
    if not getattr(actor, "is_superuser", False):
        raise PermissionRefused(MESSAGE_ONLY_SUPERUSERS_UNLOCK)
    scope = LockoutScope(scope)
    value = normalise_username(value) if scope == LockoutScope.USERNAME else (value or "").strip()
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(AccessAttempt.objects.select_for_update().filter(**{scope.value: value}).order_by("attempt_time"))
        if not rows:
            raise DomainError(MESSAGE_NOTHING_TO_LIFT.format(scope=scope.label, value=value), code="nothing_to_lift")
        found = lockouts(
            now=now, **({"usernames": [value]} if scope == LockoutScope.USERNAME else {"addresses": [value]})
        )
        locked_until = (found.usernames if scope == LockoutScope.USERNAME else found.addresses).get(value)
        AccessAttempt.objects.filter(pk__in=[r.pk for r in rows]).delete()
        record(
            actor=actor,
            action=AccessAction.LOCKOUT_LIFTED,
            request=request,
            data={
                "scope": scope.value,
                scope.value: value,
                "reason": reason,
                "before": {
                    "failures": sum(r.failures_since_start for r in rows),
                    "locked_until": locked_until,
                    "attempts": [
                        {
                            "username": r.username,
                            "ip_address": r.ip_address,
                            "failures": r.failures_since_start,
                            "last_failure": r.attempt_time,
                        }
                        for r in rows
                    ],
                },
                "after": {"failures": 0, "locked_until": None},
            },
        )
    return len(rows)
