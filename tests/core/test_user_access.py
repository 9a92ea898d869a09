"""Every change of a user's roles, permissions or flags, and of a role, goes through an audited service."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core import roles
from ersen_ops.core.accounts.choices import AccessAction
from ersen_ops.core.accounts.services import user_access_set
from ersen_ops.core.errors import DomainError, PermissionRefused
from tests.access import age_session, totp_code
from tests.core.test_access_reauth import STALE, asked_to_reauthenticate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def user_form(user, *, groups=(), is_active=True, is_staff=True, is_superuser=False, permissions=()):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": [g.pk for g in groups],
        "user_permissions": [p.pk for p in permissions],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(
        {
            flag: "on"
            for flag, on in (("is_active", is_active), ("is_staff", is_staff), ("is_superuser", is_superuser))
            if on
        }
    )
    return data


def change(client, user, **kwargs):
    return client.post(f"/admin/auth/user/{user.pk}/change/", user_form(user, **kwargs))


def test_changing_a_users_roles_in_the_admin_is_audited_with_before_and_after(client, users):
    client.force_login(users["admin"])
    viewer = users["viewer"]
    operators, approvers = Group.objects.get(name=roles.OPERATORS), Group.objects.get(name=roles.APPROVERS)
    response = change(client, viewer, groups=[operators, approvers])
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(viewer.groups.values_list("name", flat=True)) == sorted([roles.OPERATORS, roles.APPROVERS])
    event = AuditEvent.objects.get(action=AccessAction.USER_ACCESS_CHANGED)
    assert event.actor == users["admin"] and event.target_id == str(viewer.pk)
    assert event.data["before"] == {"groups": [roles.VIEWERS]}
    assert event.data["after"] == {"groups": sorted([roles.APPROVERS, roles.OPERATORS])}
    assert event.data["groups_added"] == sorted([roles.APPROVERS, roles.OPERATORS])
    assert event.data["groups_removed"] == [roles.VIEWERS]


def test_flags_are_audited_and_a_save_without_changes_records_nothing(client, users):
    client.force_login(users["admin"])
    operator = users["operator"]
    groups = list(operator.groups.all())
    assert change(client, operator, groups=groups).status_code == 302
    assert not AuditEvent.objects.filter(action=AccessAction.USER_ACCESS_CHANGED).exists()
    assert change(client, operator, groups=groups, is_active=False, is_superuser=True).status_code == 302
    operator.refresh_from_db()
    assert not operator.is_active and operator.is_superuser
    event = AuditEvent.objects.get(action=AccessAction.USER_ACCESS_CHANGED)
    assert event.data["before"] == {"is_active": True, "is_superuser": False}
    assert event.data["after"] == {"is_active": False, "is_superuser": True}


def test_direct_permissions_are_audited_too(client, users):
    client.force_login(users["admin"])
    pin = Permission.objects.get(codename="pin_host_key")
    assert change(client, users["viewer"], groups=users["viewer"].groups.all(), permissions=[pin]).status_code == 302
    event = AuditEvent.objects.get(action=AccessAction.USER_ACCESS_CHANGED)
    assert event.data["user_permissions_added"] == ["runbooks.pin_host_key"]


def test_the_last_active_superuser_cannot_demote_themselves(client, users):
    admin_user = users["admin"]
    client.force_login(admin_user)
    response = change(client, admin_user, is_superuser=False)
    assert response.status_code == 200
    assert (
        "admin is the last active superuser: removing superuser status would leave nobody" in response.content.decode()
    )
    admin_user.refresh_from_db()
    assert admin_user.is_superuser
    assert not AuditEvent.objects.filter(action=AccessAction.USER_ACCESS_CHANGED).exists()
    with pytest.raises(DomainError, match="last active superuser: deactivating them"):
        user_access_set(actor=admin_user, user=admin_user, is_active=False)


def test_only_superusers_change_access(users):
    with pytest.raises(PermissionRefused, match="Only superusers"):
        user_access_set(actor=users["operator"], user=users["viewer"], is_staff=False)
    users["viewer"].refresh_from_db()
    assert users["viewer"].is_staff


def test_creating_a_user_in_the_admin_is_audited(client, users):
    client.force_login(users["admin"])
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "newcomer",
            "usable_password": "true",
            "password1": "a-long-Passphrase-9",
            "password2": "a-long-Passphrase-9",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=AccessAction.USER_CREATED)
    assert event.target_repr == "newcomer" and event.data["after"]["groups"] == []
    assert "a-long-Passphrase-9" not in str(event.data)


def test_changing_and_deleting_a_role_is_audited(client, users):
    client.force_login(users["admin"])
    viewers = Group.objects.get(name=roles.VIEWERS)
    keep = list(viewers.permissions.all())
    extra = Permission.objects.get(codename="approve_checklistitem")
    response = client.post(
        f"/admin/auth/group/{viewers.pk}/change/",
        {"name": roles.VIEWERS, "permissions": [p.pk for p in [*keep, extra]]},
    )
    assert response.status_code == 302
    assert viewers.permissions.filter(pk=extra.pk).exists()
    event = AuditEvent.objects.get(action=AccessAction.GROUP_CHANGED)
    assert "maintenance.approve_checklistitem" in event.data["after"]["permissions"]
    assert "maintenance.approve_checklistitem" not in event.data["before"]["permissions"]
    response = client.post(f"/admin/auth/group/{viewers.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Group.objects.filter(name=roles.VIEWERS).exists()
    deleted = AuditEvent.objects.get(action=AccessAction.GROUP_DELETED)
    assert deleted.data["before"]["members"] == ["viewer"]


def test_a_superuser_made_by_the_service_can_then_be_demoted_by_another(users):
    second = UserFactory(username="second-admin")
    user_access_set(actor=users["admin"], user=second, is_superuser=True)
    second.refresh_from_db()
    user_access_set(actor=second, user=users["admin"], is_superuser=False)
    users["admin"].refresh_from_db()
    assert not users["admin"].is_superuser
    assert AuditEvent.objects.filter(action=AccessAction.USER_ACCESS_CHANGED).count() == 2


# --- re-authentication: changing what someone may do needs a fresh second factor -----------------------------


def test_changing_roles_from_a_stale_session_asks_first_and_replays_after_the_code(client, users):
    admin_user, viewer = users["admin"], users["viewer"]
    client.force_login(admin_user)
    age_session(client, STALE)
    path = f"/admin/auth/user/{viewer.pk}/change/"
    operators = Group.objects.get(name=roles.OPERATORS)
    response = change(client, viewer, groups=[operators])
    assert asked_to_reauthenticate(response, path)
    assert list(viewer.groups.values_list("name", flat=True)) == [roles.VIEWERS]  # nothing changed yet
    assert not AuditEvent.objects.filter(action=AccessAction.USER_ACCESS_CHANGED).exists()
    prompt = client.get(response["Location"]).content.decode()
    assert "Change the roles and access of viewer" in prompt
    replayed = client.post(response["Location"], {"code": totp_code(admin_user), "next": path})
    assert replayed.status_code == 302
    assert list(viewer.groups.values_list("name", flat=True)) == [roles.OPERATORS]
    event = AuditEvent.objects.get(action=AccessAction.USER_ACCESS_CHANGED)
    assert event.data["reauthenticated"] is True and event.data["reauthenticated_with"] == "totp"


def test_a_fresh_session_changes_roles_without_being_asked(client, users):
    client.force_login(users["admin"])
    age_session(client, 5)
    response = change(client, users["viewer"], groups=[Group.objects.get(name=roles.APPROVERS)])
    assert response.status_code == 302 and response["Location"] == "/admin/auth/user/"
    assert AuditEvent.objects.get(action=AccessAction.USER_ACCESS_CHANGED).data["reauthenticated"] is True


def test_editing_a_user_without_touching_their_access_is_not_asked(client, users):
    client.force_login(users["admin"])
    age_session(client, STALE)
    viewer = users["viewer"]
    viewer.email = "new-address@ersen.xyz"
    response = change(client, viewer, groups=viewer.groups.all())
    assert response.status_code == 302 and response["Location"] == "/admin/auth/user/"
    viewer.refresh_from_db()
    assert viewer.email == "new-address@ersen.xyz"


def test_changing_a_roles_permissions_from_a_stale_session_is_asked(client, users):
    client.force_login(users["admin"])
    age_session(client, STALE)
    viewers = Group.objects.get(name=roles.VIEWERS)
    path = f"/admin/auth/group/{viewers.pk}/change/"
    response = client.post(path, {"name": roles.VIEWERS, "permissions": []})
    assert asked_to_reauthenticate(response, path)
    assert viewers.permissions.exists()
