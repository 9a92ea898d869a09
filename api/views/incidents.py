"""Incidents: open, post an update, acknowledge, change the level, resolve — through incidents.services, with the
permissions the admin's buttons need (the services leave that check to their interfaces)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.choices import TokenScope
from api.fields import ComponentRefField, UserRefField, username
from api.framework import OpsAPIView
from api.pagination import CursorPagination, paginated
from incidents import services
from incidents.choices import Impact, IncidentStatus, Level
from incidents.models import Incident, IncidentUpdate
from maintenance.models import MaintenanceWindow

# The admin's permissions for the same buttons (incidents/admin.py).
P_VIEW = "incidents.view_incident"
P_OPEN = "incidents.add_incident"
P_UPDATE = "incidents.add_incidentupdate"
P_ACK = "incidents.acknowledge_incident"
P_LEVEL = "incidents.change_level_incident"
P_RESOLVE = "incidents.resolve_incident"


class ImpactSerializer(serializers.Serializer):
    component = ComponentRefField()
    impact = serializers.ChoiceField(choices=Impact.choices)


class UpdateSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    author = serializers.CharField(source="author_name")

    class Meta:
        model = IncidentUpdate
        fields = ["id", "status", "body", "public", "author", "created_at"]


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    components = serializers.SerializerMethodField()
    commander = serializers.SerializerMethodField()
    opened_by = serializers.SerializerMethodField()
    acknowledged_by = serializers.SerializerMethodField()
    resolved_by = serializers.SerializerMethodField()
    maintenance_window = serializers.SerializerMethodField()
    updates = UpdateSerializer(many=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "level",
            "status",
            "components",
            "opened_at",
            "opened_by",
            "commander",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "response_due_at",
            "breached",
            "maintenance_window",
            "postmortem_summary",
            "postmortem_url",
            "updates",
        ]

    def get_components(self, obj) -> list[dict[str, str]]:
        return [{"component": ic.component.public_id, "impact": ic.impact} for ic in obj.component_impacts.all()]

    def get_commander(self, obj) -> str | None:
        return username(obj.commander)

    def get_opened_by(self, obj) -> str | None:
        return username(obj.opened_by)

    def get_acknowledged_by(self, obj) -> str | None:
        return username(obj.acknowledged_by)

    def get_resolved_by(self, obj) -> str | None:
        return username(obj.resolved_by)

    def get_maintenance_window(self, obj) -> str | None:
        return obj.maintenance_window.public_id if obj.maintenance_window_id else None


class OpenSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    level = serializers.ChoiceField(choices=Level.choices)
    components = ImpactSerializer(many=True, required=False, max_length=200)
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=10000, help_text="First public update (“Investigating”)."
    )
    internal_notes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    commander = UserRefField(required=False, allow_null=True)
    maintenance_window = serializers.SlugRelatedField(
        slug_field="public_id", queryset=MaintenanceWindow.objects.all(), required=False, allow_null=True
    )


class PostUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IncidentStatus.choices)
    body = serializers.CharField(max_length=10000)
    public = serializers.BooleanField(default=True)


class LevelSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=Level.choices)
    reason = serializers.CharField(max_length=10000)


class ResolveSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10000, help_text="The final public update.")
    postmortem_summary = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    postmortem_url = serializers.URLField(required=False, allow_blank=True)


class AcknowledgeSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False when it had already been acknowledged (nothing done).")
    message = serializers.CharField()
    incident = IncidentSerializer()


def _incidents():
    return Incident.objects.select_related(
        "commander", "opened_by", "acknowledged_by", "resolved_by", "maintenance_window"
    ).prefetch_related("component_impacts__component", "updates")


def _incident(incident_id: str) -> Incident:
    return get_object_or_404(_incidents(), public_id=incident_id)


def _answer(incident: Incident, status: int = 200) -> Response:
    return Response(IncidentSerializer(_incident(incident.public_id)).data, status=status)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class IncidentListView(OpsAPIView):
    read_perms = (P_VIEW,)
    write_scope = TokenScope.INCIDENTS
    write_perms = (P_OPEN,)

    @extend_schema(
        operation_id="incidents_list",
        parameters=[
            OpenApiParameter("status", str, enum=IncidentStatus.values),
            OpenApiParameter("level", str, enum=Level.values),
            OpenApiParameter("open", bool, description="true: unresolved only; false: resolved only."),
        ],
        responses=paginated(IncidentSerializer),
    )
    def get(self, request):
        qs = _incidents()
        for field, choices in (("status", IncidentStatus.values), ("level", Level.values)):
            value = request.query_params.get(field)
            if value:
                if value not in choices:
                    raise serializers.ValidationError({field: [f"Choose one of {', '.join(choices)}."]})
                qs = qs.filter(**{field: value})
        is_open = request.query_params.get("open")
        if is_open:
            flag = serializers.BooleanField().run_validation(is_open)
            qs = qs.filter(resolved_at__isnull=flag)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(IncidentSerializer(page, many=True).data)

    @extend_schema(operation_id="incidents_open", request=OpenSerializer, responses={201: IncidentSerializer})
    def post(self, request):
        data = _valid(OpenSerializer, request)
        incident = services.incident_open(
            actor=request.user,
            title=data["title"],
            level=data["level"],
            components=[(i["component"], i["impact"]) for i in data.get("components", [])],
            commander=data.get("commander"),
            message=data.get("message", ""),
            internal_notes=data.get("internal_notes", ""),
            maintenance_window=data.get("maintenance_window"),
        )
        response = _answer(incident, status=201)
        response["Location"] = request.build_absolute_uri(f"/api/ops/v1/incidents/{incident.public_id}")
        return response


class IncidentDetailView(OpsAPIView):
    read_perms = (P_VIEW,)

    @extend_schema(operation_id="incidents_retrieve", responses=IncidentSerializer)
    def get(self, request, incident_id: str):
        return Response(IncidentSerializer(_incident(incident_id)).data)


class IncidentUpdateView(OpsAPIView):
    write_scope = TokenScope.INCIDENTS
    write_perms = (P_UPDATE,)

    @extend_schema(
        operation_id="incidents_post_update", request=PostUpdateSerializer, responses={201: UpdateSerializer}
    )
    def post(self, request, incident_id: str):
        data = _valid(PostUpdateSerializer, request)
        update = services.incident_post_update(
            actor=request.user,
            incident=_incident(incident_id),
            status=data["status"],
            body=data["body"],
            public=data["public"],
        )
        return Response(UpdateSerializer(update).data, status=201)


class IncidentAcknowledgeView(OpsAPIView):
    write_scope = TokenScope.INCIDENTS
    write_perms = (P_ACK,)

    @extend_schema(operation_id="incidents_acknowledge", request=None, responses=AcknowledgeSerializer)
    def post(self, request, incident_id: str):
        outcome = services.incident_acknowledge(actor=request.user, incident=_incident(incident_id))
        return Response(
            {
                "changed": outcome.changed,
                "message": outcome.message,
                "incident": IncidentSerializer(_incident(incident_id)).data,
            }
        )


class IncidentLevelView(OpsAPIView):
    write_scope = TokenScope.INCIDENTS
    write_perms = (P_LEVEL,)

    @extend_schema(operation_id="incidents_change_level", request=LevelSerializer, responses=IncidentSerializer)
    def post(self, request, incident_id: str):
        data = _valid(LevelSerializer, request)
        incident = services.incident_change_level(
            actor=request.user, incident=_incident(incident_id), level=data["level"], reason=data["reason"]
        )
        return _answer(incident)


class IncidentResolveView(OpsAPIView):
    write_scope = TokenScope.INCIDENTS
    write_perms = (P_RESOLVE,)

    @extend_schema(operation_id="incidents_resolve", request=ResolveSerializer, responses=IncidentSerializer)
    def post(self, request, incident_id: str):
        data = _valid(ResolveSerializer, request)
        incident = services.incident_resolve(
            actor=request.user,
            incident=_incident(incident_id),
            body=data["body"],
            postmortem_summary=data.get("postmortem_summary", ""),
            postmortem_url=data.get("postmortem_url", ""),
        )
        return _answer(incident)
