"""Serializer fields that name things as operators do: components by id or name, people by username."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ersen_ops.status.models import Component


@extend_schema_field(OpenApiTypes.STR)
class ComponentRefField(serializers.Field):
    """A component by its id (cmp_…) or its name (case-insensitive); answered as its id."""

    default_error_messages = {"unknown": "No component {value!r} (give its id cmp_… or its name)."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip() or len(data) > 100 or "\x00" in data:
            self.fail("unknown", value=data)
        component = Component.objects.filter(Q(public_id=data.strip()) | Q(name__iexact=data.strip())).first()
        if component is None:
            self.fail("unknown", value=data)
        return component

    def to_representation(self, value):
        return value.public_id


@extend_schema_field(OpenApiTypes.STR)
class UserRefField(serializers.Field):
    """An active user by username."""

    default_error_messages = {"unknown": "No active user {value!r}."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data or len(data) > 150 or "\x00" in data:
            self.fail("unknown", value=data)
        user = get_user_model().objects.filter(username=data, is_active=True).first()
        if user is None:
            self.fail("unknown", value=data)
        return user

    def to_representation(self, value):
        return value.get_username()


def username(user) -> str | None:
    return user.get_username() if user is not None else None
