"""Maintenance windows: create a draft, edit, schedule, start, update the ETA, complete, cancel; the checklist with
its approvals; approve an item and confirm on-call availability as the token's user. Every rule (the protocol,
four-eyes, who may) stays in maintenance.services; this module only translates HTTP."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from api.choices import TokenScope
from api.fields import ComponentRefField, UserRefField, username
from api.framework import OpsAPIView
from api.pagination import CursorPagination, paginated
from maintenance import services
from maintenance.choices import MaintenanceType, WindowStatus
from maintenance.models import Approval, ChecklistItem, MaintenanceWindow

VIEW = ("maintenance.view_maintenancewindow",)


# --- serializers -------------------------------------------------------------------------------------------


class ApprovalSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="actor_name")
    live = serializers.BooleanField(source="is_live")

    class Meta:
        model = Approval
        fields = ["id", "by", "approved_at", "note", "evidence_url", "evidence_summary", "live", "revoked_at"]


class ChecklistItemSerializer(serializers.ModelSerializer):
    done = serializers.BooleanField(source="is_done")
    approvals = ApprovalSerializer(many=True)

    class Meta:
        model = ChecklistItem
        fields = ["id", "phase", "order", "text", "key", "required_approvals", "done", "done_at", "approvals"]


class WindowSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    components = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    on_call_engineer = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "title",
            "type",
            "status",
            "planned_start",
            "planned_end",
            "eta",
            "actual_start",
            "actual_end",
            "closed_at",
            "impact",
            "reason",
            "rollback_plan",
            "components",
            "owner",
            "on_call_engineer",
            "announcement",
            "cancellation_reason",
            "emergency_justification",
            "created_at",
            "updated_at",
        ]

    def get_components(self, obj) -> list[str]:
        return [c.public_id for c in obj.components.all()]

    def get_owner(self, obj) -> str | None:
        return username(obj.owner)

    def get_on_call_engineer(self, obj) -> str | None:
        return username(obj.on_call_engineer)


ACTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "allowed": {"type": "boolean"},
            "refusals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"rule": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["rule", "message"],
                },
            },
        },
        "required": ["allowed", "refusals"],
    },
}


class WindowDetailSerializer(WindowSerializer):
    actions = serializers.SerializerMethodField(
        help_text="schedule, start, update_eta, complete, cancel, approve, revoke: whether the maintenance rules "
        "allow each now and, if not, which rule refuses (the admin's buttons ask the same)."
    )

    class Meta(WindowSerializer.Meta):
        fields = [*WindowSerializer.Meta.fields, "actions"]

    @extend_schema_field(ACTIONS_SCHEMA)
    def get_actions(self, obj) -> dict:
        actions = services.window_actions(obj, now=timezone.now())
        return {
            name: {"allowed": not refusals, "refusals": [{"rule": v.rule, "message": v.message} for v in refusals]}
            for name, refusals in actions.items()
        }


class WindowWriteSerializer(serializers.Serializer):
    """Fields of a window; all required to create a draft except rollback_plan, owner (default: you) and on-call."""

    title = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=MaintenanceType.choices, default=MaintenanceType.ROUTINE)
    planned_start = serializers.DateTimeField()
    planned_end = serializers.DateTimeField()
    impact = serializers.CharField(max_length=10000)
    reason = serializers.CharField(max_length=10000)
    rollback_plan = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    components = serializers.ListField(child=ComponentRefField(), required=False, max_length=200)
    owner = UserRefField(required=False)
    on_call_engineer = UserRefField(required=False, allow_null=True)


class JustificationSerializer(serializers.Serializer):
    justification = serializers.CharField(
        required=False, allow_blank=True, max_length=10000, help_text="Needed for late notice / emergency windows."
    )


class EtaSerializer(serializers.Serializer):
    eta = serializers.DateTimeField()
    reason = serializers.CharField(max_length=10000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=10000)


class ApproveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    evidence_url = serializers.URLField(required=False, allow_blank=True, max_length=500)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class ChecklistEntrySerializer(ChecklistItemSerializer):
    can_approve = serializers.BooleanField()
    refusal = serializers.CharField(help_text="Why you cannot approve (or confirm) it now; empty when you can.")
    requirements = serializers.ListField(child=serializers.CharField())

    class Meta(ChecklistItemSerializer.Meta):
        fields = [*ChecklistItemSerializer.Meta.fields, "can_approve", "refusal", "requirements"]


# --- helpers -----------------------------------------------------------------------------------------------


def _windows():
    return MaintenanceWindow.objects.select_related("owner", "on_call_engineer").prefetch_related("components")


def _window(window_id: str) -> MaintenanceWindow:
    return get_object_or_404(_windows(), public_id=window_id)


def _answer(window: MaintenanceWindow, status: int = 200) -> Response:
    return Response(WindowDetailSerializer(_window(window.public_id)).data, status=status)


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- views -------------------------------------------------------------------------------------------------


class WindowListView(OpsAPIView):
    read_perms = VIEW
    write_scope = TokenScope.MAINTENANCE

    @extend_schema(
        operation_id="maintenance_windows_list",
        parameters=[
            OpenApiParameter("status", str, enum=WindowStatus.values),
            OpenApiParameter("type", str, enum=MaintenanceType.values),
            OpenApiParameter("component", str, description="Windows covering this component (id or name)."),
        ],
        responses=paginated(WindowSerializer),
    )
    def get(self, request):
        qs = _windows()
        for field, choices in (("status", WindowStatus.values), ("type", MaintenanceType.values)):
            value = request.query_params.get(field)
            if value:
                if value not in choices:
                    raise serializers.ValidationError({field: [f"Choose one of {', '.join(choices)}."]})
                qs = qs.filter(**{field: value})
        component = request.query_params.get("component")
        if component:
            qs = qs.filter(components=ComponentRefField().run_validation(component)).distinct()
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(WindowSerializer(page, many=True).data)

    @extend_schema(
        operation_id="maintenance_windows_create",
        request=WindowWriteSerializer,
        responses={201: WindowDetailSerializer},
    )
    def post(self, request):
        data = dict(_valid(WindowWriteSerializer, request))
        components = data.pop("components", [])
        window = services.window_create(actor=request.user, components=components, **data)
        response = _answer(window, status=201)
        response["Location"] = request.build_absolute_uri(f"/api/ops/v1/maintenance-windows/{window.public_id}")
        return response


class WindowDetailView(OpsAPIView):
    read_perms = VIEW
    write_scope = TokenScope.MAINTENANCE

    @extend_schema(operation_id="maintenance_windows_retrieve", responses=WindowDetailSerializer)
    def get(self, request, window_id: str):
        return Response(WindowDetailSerializer(_window(window_id)).data)

    @extend_schema(
        operation_id="maintenance_windows_edit", request=WindowWriteSerializer, responses=WindowDetailSerializer
    )
    def patch(self, request, window_id: str):
        data = dict(_valid(WindowWriteSerializer, request, partial=True))
        window = _window(window_id)
        components = data.pop("components", None)
        services.window_update(actor=request.user, window=window, components=components, **data)
        return _answer(window)


class _WindowAction(OpsAPIView):
    write_scope = TokenScope.MAINTENANCE


class WindowScheduleView(_WindowAction):
    @extend_schema(
        operation_id="maintenance_windows_schedule", request=JustificationSerializer, responses=WindowDetailSerializer
    )
    def post(self, request, window_id: str):
        data = _valid(JustificationSerializer, request)
        window = _window(window_id)
        services.window_schedule(actor=request.user, window=window, justification=data.get("justification", ""))
        return _answer(window)


class WindowStartView(_WindowAction):
    @extend_schema(
        operation_id="maintenance_windows_start", request=JustificationSerializer, responses=WindowDetailSerializer
    )
    def post(self, request, window_id: str):
        data = _valid(JustificationSerializer, request)
        window = _window(window_id)
        services.window_start(actor=request.user, window=window, justification=data.get("justification", ""))
        return _answer(window)


class WindowEtaView(_WindowAction):
    @extend_schema(
        operation_id="maintenance_windows_update_eta", request=EtaSerializer, responses=WindowDetailSerializer
    )
    def post(self, request, window_id: str):
        data = _valid(EtaSerializer, request)
        window = _window(window_id)
        services.window_update_eta(actor=request.user, window=window, new_eta=data["eta"], reason=data["reason"])
        return _answer(window)


class WindowCompleteView(_WindowAction):
    @extend_schema(operation_id="maintenance_windows_complete", request=None, responses=WindowDetailSerializer)
    def post(self, request, window_id: str):
        window = _window(window_id)
        services.window_complete(actor=request.user, window=window)
        return _answer(window)


class WindowCancelView(_WindowAction):
    @extend_schema(
        operation_id="maintenance_windows_cancel", request=ReasonSerializer, responses=WindowDetailSerializer
    )
    def post(self, request, window_id: str):
        data = _valid(ReasonSerializer, request)
        window = _window(window_id)
        services.window_cancel(actor=request.user, window=window, reason=data["reason"])
        return _answer(window)


class ChecklistView(OpsAPIView):
    """The checklist with its approvals and, for each item, whether you (the token's user) may approve it now."""

    read_perms = VIEW

    @extend_schema(operation_id="maintenance_windows_checklist", responses=ChecklistEntrySerializer(many=True))
    def get(self, request, window_id: str):
        window = _window(window_id)
        items = window.checklist_items.prefetch_related(
            Prefetch("approvals", Approval.objects.order_by("approved_at", "id"))
        )
        entries = []
        for item in items:
            refusal = services.approval_refusal(window, item, request.user)
            item.can_approve = not refusal and not item.is_done
            item.refusal = refusal
            item.requirements = services.item_requirements(window, item, request.user)
            entries.append(item)
        return Response(ChecklistEntrySerializer(entries, many=True).data)


class ChecklistApproveView(_WindowAction):
    """Approve one checklist item as the token's user (four-eyes and every rule of the admin apply)."""

    @extend_schema(
        operation_id="maintenance_checklist_approve", request=ApproveSerializer, responses=ChecklistItemSerializer
    )
    def post(self, request, window_id: str, item_id: int):
        data = _valid(ApproveSerializer, request)
        window = _window(window_id)
        item = get_object_or_404(ChecklistItem, pk=item_id, window=window)
        services.checklist_approve(
            actor=request.user, item=item, note=data.get("note", ""), evidence_url=data.get("evidence_url", "")
        )
        return Response(
            ChecklistItemSerializer(ChecklistItem.objects.prefetch_related("approvals").get(pk=item.pk)).data
        )


class OnCallConfirmView(_WindowAction):
    """The window's on-call engineer (the token's user) confirms being available."""

    @extend_schema(operation_id="maintenance_on_call_confirm", request=NoteSerializer, responses=ApprovalSerializer)
    def post(self, request, window_id: str):
        data = _valid(NoteSerializer, request)
        window = _window(window_id)
        approval = services.checklist_confirm_on_call(actor=request.user, window=window, note=data.get("note", ""))
        return Response(ApprovalSerializer(approval).data)
