"""State changes of single sign-on: a user's roles made to match the provider's groups, and a superuser's explicit
link of an existing account to a provider subject (both audited)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.policy import access_diff
from ersen_ops.core.accounts.services import access_snapshot
from ersen_ops.core.errors import DomainError
from ersen_ops.core.sso import policy
from ersen_ops.core.sso.choices import SSOAction
from ersen_ops.core.sso.config import PROVIDER_ID


def user_sync_sso_roles(*, user, groups: list[str], role_map, provider: str, subject: str, request=None) -> set[str]:
    """Give `user` the roles their provider groups map to (removing managed roles whose group is gone; roles the
    map does not manage stay) and staff status with them. Audited as `user.access_changed`, in the shape of the
    user admin's changes (core.accounts.services.user_access_set) plus what the provider sent. The actor is the
    user logging in; the change is the role map's. Returns the roles after."""
    given = user
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        before = access_snapshot(user)
        roles = policy.roles_after_login(current=before["groups"], groups=groups, role_map=role_map)
        staff = bool(roles) or user.is_superuser  # the admin is for people with a role
        if roles != set(before["groups"]):
            for name in roles - set(Group.objects.filter(name__in=roles).values_list("name", flat=True)):
                Group.objects.create(name=name)  # roles exist after migrate (roles.sync_roles); never fail a login
            user.groups.set(Group.objects.filter(name__in=roles))
        if user.is_staff != staff:
            user.is_staff = staff
            user.save(update_fields=["is_staff"])
        old, new = access_diff(before, access_snapshot(user))
        if old:
            data = {
                "before": old,
                "after": new,
                "reason": "single sign-on: the role map applied to the provider's groups",
            }
            if "groups" in old:
                data["groups_added"] = sorted(set(new["groups"]) - set(old["groups"]))
                data["groups_removed"] = sorted(set(old["groups"]) - set(new["groups"]))
            data.update(source="sso", provider=provider, subject=subject, groups_seen=groups)
            record(actor=user, action=AccessAction.USER_ACCESS_CHANGED, target=user, data=data, request=request)
    given.is_staff = user.is_staff  # the caller's instance is the one allauth logs in
    return roles


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
