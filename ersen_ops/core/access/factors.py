"""What the session and the database say about a user's second factor (reads only; allauth keeps the records).

allauth records every step of a login in the session (`account_authentication_methods`): the password, the
second factor ({"method": "mfa", "type": "totp" | "webauthn" | "recovery_codes", "id": …}), re-authentications
(`"reauthenticated": true`). These functions read those records; they never write them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef

from ersen_ops.core.access import policy

# allauth.mfa's authenticator types that are a second factor (recovery codes are only a fallback).
FACTOR_TYPES = ("totp", "webauthn")


@dataclass(frozen=True)
class FactorStatus:
    required: bool  # superuser, or in one of OPS_MFA_REQUIRED_GROUPS
    has_factor: bool  # an authenticator app or a security key is enrolled


def authentication_records(request) -> list[dict]:
    from allauth.account.authentication import get_authentication_records

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return list(get_authentication_records(request, user))


def second_factor_status(user) -> FactorStatus:
    """One query: does this user need a second factor, and do they have one?"""
    from allauth.mfa.models import Authenticator

    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            in_required_group=Exists(
                Group.objects.filter(user=OuterRef("pk"), name__in=settings.OPS_MFA_REQUIRED_GROUPS)
            ),
            has_factor=Exists(Authenticator.objects.filter(user=OuterRef("pk"), type__in=FACTOR_TYPES)),
        )
        .values_list("is_superuser", "in_required_group", "has_factor")
        .first()
    )
    if row is None:
        return FactorStatus(required=False, has_factor=False)
    is_superuser, in_required_group, has_factor = row
    return FactorStatus(required=bool(is_superuser or in_required_group), has_factor=bool(has_factor))


def user_requires_second_factor(user) -> bool:
    return policy.requires_second_factor(
        is_superuser=user.is_superuser,
        group_names=user.groups.values_list("name", flat=True),
        required_groups=settings.OPS_MFA_REQUIRED_GROUPS,
    )
