"""The role matrix: each role can do exactly what the README's table says."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from ersen_ops.core import roles

pytestmark = pytest.mark.django_db

# The README's role matrix, as (role, permission) → allowed. Kept literal on purpose:
# a change to roles.py that is not also made here (and in the README) fails.
MATRIX = {
    "checks.add_check": {roles.OPERATORS},
    "checks.view_check": {roles.OPERATORS, roles.APPROVERS, roles.INCIDENT_COMMANDERS, roles.VIEWERS},
    "alerting.add_alertrule": {roles.OPERATORS},
    "alerting.manage_token_alertintegration": set(),
    "alerting.add_alertintegration": set(),
    "alerting.view_alertintegration": set(),
    "alerting.view_receivedalert": {roles.OPERATORS, roles.APPROVERS, roles.INCIDENT_COMMANDERS, roles.VIEWERS},
    "alerting.delete_alertintegration": set(),
    "maintenance.add_maintenancewindow": {roles.OPERATORS},
    "maintenance.transition_maintenancewindow": {roles.OPERATORS},
    "maintenance.approve_checklistitem": {roles.APPROVERS},
    "incidents.add_incident": {roles.OPERATORS, roles.INCIDENT_COMMANDERS},
    "incidents.acknowledge_incident": {roles.INCIDENT_COMMANDERS},
    "incidents.resolve_incident": {roles.INCIDENT_COMMANDERS},
    "runbooks.run_runbook": {roles.OPERATORS},
    "notifications.resend_notificationdelivery": {roles.OPERATORS},
    "status.change_component": {roles.OPERATORS},
    "maintenance.add_freezeperiod": {roles.OPERATORS},
    "incidents.change_level_incident": {roles.INCIDENT_COMMANDERS},
    "incidents.command_incident": {roles.INCIDENT_COMMANDERS},
    "runbooks.cancel_runbookexecution": {roles.OPERATORS},
    "runbooks.pin_host_key": set(),
    "runbooks.change_host": set(),
    "runbooks.change_runbook": set(),
    "maintenance.change_checklisttemplate": set(),
    "subscribers.export_subscriber": {roles.OPERATORS},
    "subscribers.enable_webhooksubscriber": {roles.OPERATORS},
    "subscribers.view_subscriber": {roles.OPERATORS},
    "audit.view_auditevent": {roles.OPERATORS, roles.APPROVERS, roles.INCIDENT_COMMANDERS, roles.VIEWERS},
    "audit.change_auditevent": set(),
    "audit.delete_auditevent": set(),
    "auth.change_user": set(),
    "auth.change_group": set(),
}


def test_every_role_exists():
    roles.sync_roles()
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLE_PERMISSIONS)


@pytest.mark.parametrize("perm", sorted(MATRIX))
def test_each_role_has_exactly_the_permissions_of_the_matrix(users, perm):
    for name, user in users.items():
        if name == "admin":
            continue
        role = user.groups.get().name
        app_label, codename = perm.split(".")
        from django.contrib.auth.models import Permission

        exists = Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()
        expected = role in MATRIX[perm] and exists
        assert user.has_perm(perm) is expected, f"{role} {'should' if expected else 'should not'} have {perm}"


def test_every_permission_of_the_matrix_exists():
    from django.contrib.auth.models import Permission

    for perm in MATRIX:
        app_label, codename = perm.split(".")
        assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), perm


def test_viewers_have_only_view_permissions(users):
    perms = users["viewer"].get_all_permissions()
    assert perms
    assert all(p.split(".")[1].startswith("view_") for p in perms)


def test_staff_status_alone_grants_nothing(db):
    from tests.factories import UserFactory

    staff = UserFactory(username="staffonly", is_staff=True)
    assert staff.get_all_permissions() == set()


def test_sync_roles_is_idempotent():
    first = roles.sync_roles()
    assert roles.sync_roles() == first
