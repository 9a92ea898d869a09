"""State changes of single sign-on: a user's roles made to match the provider's groups (audited)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.sso import policy
from ersen_ops.core.sso.choices import SSOAction


def user_sync_sso_roles(*, user, groups: list[str], role_map, provider: str, subject: str, request=None) -> set[str]:
    """Give `user` the roles their provider groups map to (removing managed roles whose group is gone; roles the
    map does not manage stay). Records `user.roles_changed` with before/after when anything changed. The user must
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
            action=SSOAction.ROLES_CHANGED,
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
