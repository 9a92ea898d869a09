"""State changes of single sign-on: a user's roles made to match the provider's groups, and a superuser's explicit
link of an existing account to a provider subject (both audited)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.errors import DomainError
from ersen_ops.core.sso import policy
from ersen_ops.core.sso.choices import SSOAction
from ersen_ops.core.sso.config import PROVIDER_ID


def user_sync_sso_roles(*, user, groups: list[str], role_map, provider: str, subject: str, request=None) -> set[str]:
    """Give `user` the roles their provider groups map to (removing managed roles whose group is gone; roles the
    map does not manage stay). Records `user.access_changed` with before/after when anything changed. The user must
    be saved. Returns the roles after."""
    with transaction.atomic():
        before = set(user.groups.values_list("name", flat=True))
        after = policy.roles_after_login(current=before, groups=groups, role_map=role_map)
        staff_before, staff_after = user.is_staff, bool(after) or user.is_superuser
        if after == before and staff_before == staff_after:
            return after
        added, removed = after - before, before - after
        if removed:
            user.groups.remove(*Group.objects.filter(name__in=removed))
        if added:
            for name in added - set(Group.objects.filter(name__in=added).values_list("name", flat=True)):
                Group.objects.create(name=name)  # roles exist after migrate (roles.sync_roles); never fail a login
            user.groups.add(*Group.objects.filter(name__in=added))
        if staff_before != staff_after:
            user.is_staff = staff_after  # the admin is for people with a role
            user.save(update_fields=["is_staff"])
        record(
            actor=user,
            action=AccessAction.USER_ACCESS_CHANGED,
            target=user,
            data={
                "before": sorted(before),
                "after": sorted(after),
                "added": sorted(added),
                "removed": sorted(removed),
                "is_staff": {"before": staff_before, "after": staff_after},
                "source": "sso",
                "provider": provider,
                "subject": subject,
                "groups_seen": groups,
            },
            request=request,
        )
    return after


def user_link_sso(*, actor, user, subject: str):
    """Link an existing account to the provider's subject, so that the next SSO login with that subject is this
    account (instead of a new one). One subject, one account; one account, one subject."""
    from allauth.socialaccount.models import SocialAccount

    subject = subject.strip()
    if not subject:
        raise DomainError("The subject is empty: give the provider's `sub` for this person.")
    with transaction.atomic():
        taken = SocialAccount.objects.select_for_update().filter(provider=PROVIDER_ID, uid=subject).first()
        if taken is not None:
            raise DomainError(f"Subject {subject!r} is already linked to {taken.user.get_username()!r}.")
        existing = SocialAccount.objects.filter(provider=PROVIDER_ID, user=user).first()
        if existing is not None:
            raise DomainError(
                f"{user.get_username()!r} is already linked to subject {existing.uid!r}; unlink it first."
            )
        link = SocialAccount.objects.create(provider=PROVIDER_ID, uid=subject, user=user, extra_data={})
        record(actor=actor, action=SSOAction.LINKED, target=user, data={"subject": subject, "provider": PROVIDER_ID})
    return link


def user_unlink_sso(*, actor, user) -> str:
    """Remove an account's link to its provider subject; returns the subject that was linked."""
    from allauth.socialaccount.models import SocialAccount

    with transaction.atomic():
        link = SocialAccount.objects.select_for_update().filter(provider=PROVIDER_ID, user=user).first()
        if link is None:
            raise DomainError(f"{user.get_username()!r} is not linked to a provider subject.")
        subject = link.uid
        link.delete()
        record(actor=actor, action=SSOAction.UNLINKED, target=user, data={"subject": subject, "provider": PROVIDER_ID})
    return subject
