"""Components: read them, set a component's manual status (ersen_ops.status.services.component_save, as the admin)."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.choices import TokenScope
from api.framework import OpsAPIView
from api.pagination import CursorPagination, paginated
from ersen_ops.status import services as status_services
from ersen_ops.status.choices import ComponentStatus
from ersen_ops.status.models import Component

VIEW = ("status.view_component",)


class ComponentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    group = serializers.SerializerMethodField()

    class Meta:
        model = Component
        fields = ["id", "name", "description", "group", "is_group", "position", "public", "status", "updated_at"]

    def get_group(self, obj) -> str | None:
        return obj.group.public_id if obj.group_id else None


class ComponentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ComponentStatus.choices)


class ComponentListView(OpsAPIView):
    read_perms = VIEW

    @extend_schema(responses=paginated(ComponentSerializer), operation_id="components_list")
    def get(self, request):
        paginator = CursorPagination()
        paginator.ordering = ("position", "id")
        page = paginator.paginate_queryset(
            Component.objects.select_related("group").order_by("position", "id"), request, self
        )
        return paginator.get_paginated_response(ComponentSerializer(page, many=True).data)


class ComponentDetailView(OpsAPIView):
    read_perms = VIEW

    @extend_schema(responses=ComponentSerializer, operation_id="components_retrieve")
    def get(self, request, component_id: str):
        component = get_object_or_404(Component.objects.select_related("group"), public_id=component_id)
        return Response(ComponentSerializer(component).data)


class ComponentStatusView(OpsAPIView):
    """Set the manual status (what the public status is never better than), audited as in the admin."""

    write_scope = TokenScope.STATUS
    write_perms = ("status.change_component",)  # the admin's check; component_save itself checks no permission

    @extend_schema(
        request=ComponentStatusSerializer, responses=ComponentSerializer, operation_id="components_set_status"
    )
    def post(self, request, component_id: str):
        data = ComponentStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            component = get_object_or_404(Component.objects.select_for_update(), public_id=component_id)
            before = status_services.component_state(component)
            component.status = data.validated_data["status"]
            status_services.component_save(actor=request.user, component=component, before=before)
        return Response(ComponentSerializer(component).data)
