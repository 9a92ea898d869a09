"""State changes of access: lifting a lockout, and every change of a user's roles, permissions or flags, and of a
role (group) itself. Each is audited with before/after; the user and group admins call these, never save directly."""

from __future__ import annotations

from collections.abc import Iterable

from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.accounts import policy
from ersen_ops.core.accounts.choices import ACCESS_FLAGS, AccessAction, LockoutScope
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


# --- a user's access: groups (roles), direct permissions, active / staff / superuser -----------------------


def _permission_names(permissions: Iterable[Permission]) -> list[str]:
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in permissions)


def access_snapshot(user) -> dict:
    return {
        **{flag: bool(getattr(user, flag)) for flag in ACCESS_FLAGS},
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "user_permissions": _permission_names(user.user_permissions.select_related("content_type")),
    }


def _wanted(before: dict, *, groups, permissions, flags: dict) -> dict:
    wanted = dict(before)
    wanted.update({k: bool(v) for k, v in flags.items() if v is not None})
    if groups is not None:
        wanted["groups"] = sorted(g.name for g in groups)
    if permissions is not None:
        wanted["user_permissions"] = _permission_names(permissions)
    return wanted


def user_access_problem(*, actor, user, groups=None, permissions=None, **flags) -> str:
    """Why `user_access_set` with these arguments would be refused ("" when it would not); for form validation."""
    before = access_snapshot(user)
    return policy.access_change_problem(
        actor_is_superuser=bool(getattr(actor, "is_superuser", False)),
        username=user.get_username(),
        before=before,
        after=_wanted(before, groups=groups, permissions=permissions, flags=flags),
        other_active_superusers=get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .exclude(pk=user.pk)
        .count(),
    )


def user_access_preview(*, user, groups=None, permissions=None, **flags) -> dict:
    """What `user_access_set` with these arguments would change ({} when nothing): to decide whether to ask for
    re-authentication before doing it."""
    before = access_snapshot(user)
    old, new = policy.access_diff(before, _wanted(before, groups=groups, permissions=permissions, flags=flags))
    return {"before": old, "after": new} if old else {}


def group_change_preview(*, group: Group, name: str, permissions: Iterable[Permission]) -> bool:
    """Would `group_save` change this role (or create it)?"""
    if group.pk is None:
        return True
    return _group_snapshot(group) != {"name": name, "permissions": _permission_names(permissions)}


def user_access_set(
    *,
    actor,
    user,
    groups: Iterable[Group] | None = None,
    permissions: Iterable[Permission] | None = None,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    reason: str = "",
    request=None,
) -> dict:
    """Change what `user` may do (None leaves a part as it is); returns {"before": …, "after": …} of what changed
    ({} when nothing did: no event). Only superusers; never the last active superuser's status. Interfaces ask for
    a fresh second factor first (ersen_ops.core.access.reauth); the event then says it was re-authenticated."""
    groups = list(groups) if groups is not None else None
    permissions = list(permissions) if permissions is not None else None
    flags = {"is_active": is_active, "is_staff": is_staff, "is_superuser": is_superuser}
    with transaction.atomic():
        # Lock the superusers too: two superusers demoting each other at once must not leave none.
        list(get_user_model().objects.select_for_update().filter(is_superuser=True).values_list("pk", flat=True))
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        problem = user_access_problem(actor=actor, user=user, groups=groups, permissions=permissions, **flags)
        if problem:
            raise PermissionRefused(problem) if not getattr(actor, "is_superuser", False) else DomainError(problem)
        before = access_snapshot(user)
        changed_flags = [f for f, v in flags.items() if v is not None and bool(v) != before[f]]
        for flag in changed_flags:
            setattr(user, flag, bool(flags[flag]))
        if changed_flags:
            user.save(update_fields=changed_flags)
        if groups is not None:
            user.groups.set(groups)
        if permissions is not None:
            user.user_permissions.set(permissions)
        old, new = policy.access_diff(before, access_snapshot(user))
        if not old:
            return {}
        data = {"before": old, "after": new, "reason": reason}
        for key in ("groups", "user_permissions"):
            if key in old:
                data[f"{key}_added"] = sorted(set(new[key]) - set(old[key]))
                data[f"{key}_removed"] = sorted(set(old[key]) - set(new[key]))
        record(actor=actor, action=AccessAction.USER_ACCESS_CHANGED, target=user, data=data, request=request)
    return {"before": old, "after": new}


def user_created(*, actor, user, request=None) -> None:
    """Audit a user just made in the admin (with the access it starts with)."""
    record(
        actor=actor,
        action=AccessAction.USER_CREATED,
        target=user,
        data={"after": access_snapshot(user)},
        request=request,
    )


# --- roles (groups) themselves --------------------------------------------------------------------------


def _group_snapshot(group: Group) -> dict:
    return {"name": group.name, "permissions": _permission_names(group.permissions.select_related("content_type"))}


def group_save(*, actor, group: Group, name: str, permissions: Iterable[Permission], request=None) -> Group:
    """Create or change a role: its name and permissions, audited before/after. (Roles in roles.py are made to
    match it again at the next `migrate`: this is for emergencies and extra groups.)"""
    if not getattr(actor, "is_superuser", False):
        raise PermissionRefused("Only superusers can create or change roles.")
    permissions = list(permissions)
    with transaction.atomic():
        creating = group.pk is None
        if not creating:
            group = Group.objects.select_for_update().get(pk=group.pk)
        before = {} if creating else _group_snapshot(group)
        group.name = name
        group.full_clean(validate_unique=True, exclude=["permissions"])
        group.save()
        group.permissions.set(permissions)
        after = _group_snapshot(group)
        if before == after:
            return group
        old, new = policy.access_diff(before, after) if before else ({}, after)
        record(
            actor=actor,
            action=AccessAction.GROUP_CREATED if creating else AccessAction.GROUP_CHANGED,
            target=group,
            data={"before": old, "after": new},
            request=request,
        )
    return group


def group_delete(*, actor, group: Group, request=None) -> None:
    """Delete a role; its members lose it (named in the event)."""
    if not getattr(actor, "is_superuser", False):
        raise PermissionRefused("Only superusers can delete roles.")
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        before = {**_group_snapshot(group), "members": sorted(group.user_set.values_list("username", flat=True))}
        record(actor=actor, action=AccessAction.GROUP_DELETED, target=group, data={"before": before}, request=request)
        group.delete()
