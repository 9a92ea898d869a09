"""Factories shared by the test suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from ersen_ops.core import roles
from ersen_ops.status.models import Component


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@ersen.xyz")
    is_staff = True
    password = factory.django.Password("pw")


class ComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Component
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Component {n}")
    position = factory.Sequence(lambda n: n)


def user_with_role(username: str, role: str | None):
    user = UserFactory(username=username)
    if role:
        roles.sync_roles()
        user.groups.add(Group.objects.get(name=role))
    return user


def make_role_users() -> dict:
    roles.sync_roles()
    result = {
        "operator": user_with_role("operator", roles.OPERATORS),
        "approver": user_with_role("approver", roles.APPROVERS),
        "commander": user_with_role("commander", roles.INCIDENT_COMMANDERS),
        "viewer": user_with_role("viewer", roles.VIEWERS),
    }
    result["admin"] = UserFactory(username="admin", is_superuser=True)
    return result
