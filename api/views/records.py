"""Audit events and notification deliveries: read, filter, and export by following the cursor (`next`) to the end."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.framework import OpsAPIView
from api.pagination import CursorPagination, paginated
from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import DELIVERY_CHANNEL_CHOICES, DeliveryStatus, SubscriberChannel
from ersen_ops.notifications.models import NotificationDelivery

P_AUDIT = "audit.view_auditevent"
P_DELIVERIES = "notifications.view_notificationdelivery"
# Deliveries to subscribers name a person's address: only for those who may see subscribers (as in the admin).
P_SUBSCRIBERS = "subscribers.view_subscriber"


class AuditEventSerializer(serializers.ModelSerializer):
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "data",
            "request_id",
            "remote_addr",
            "prev_hash",
            "hash",
        ]

    def get_target_type(self, obj) -> str | None:
        ct = obj.target_type
        return f"{ct.app_label}.{ct.model}" if ct else None


class DeliverySerializer(serializers.ModelSerializer):
    related_type = serializers.SerializerMethodField()

    class Meta:
        model = NotificationDelivery
        fields = [
            "id",
            "event",
            "channel",
            "target_name",
            "subject",
            "body",
            "status",
            "attempts",
            "last_error",
            "response",
            "created_at",
            "sent_at",
            "next_attempt_at",
            "related_type",
            "related_id",
        ]

    def get_related_type(self, obj) -> str | None:
        ct = obj.related_type
        return f"{ct.app_label}.{ct.model}" if ct else None


def _datetime(request, name):
    value = request.query_params.get(name)
    return serializers.DateTimeField().run_validation(value) if value else None


def _content_type(value: str) -> ContentType:
    app_label, _, model = value.partition(".")
    ct = ContentType.objects.filter(app_label=app_label, model=model.lower()).first()
    if ct is None:
        raise serializers.ValidationError(
            {"target_type": [f"Unknown type {value!r}; e.g. maintenance.maintenancewindow."]}
        )
    return ct


_TIME_PARAMS = [
    OpenApiParameter("since", str, description="ISO 8601 time: created at or after"),
    OpenApiParameter("until", str, description="ISO 8601 time: created before"),
    OpenApiParameter("page_size", int, description="Up to 500 (default 50)"),
]


class AuditEventListView(OpsAPIView):
    read_perms = (P_AUDIT,)

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[
            OpenApiParameter("action", str, description="Exact action, e.g. incident.opened"),
            OpenApiParameter("action_prefix", str, description="Actions starting with this, e.g. maintenance."),
            OpenApiParameter("actor", str, description="Actor name (username or system:…)"),
            OpenApiParameter("target_type", str, description="app_label.model, e.g. incidents.incident"),
            OpenApiParameter("target_id", str),
            OpenApiParameter("api_token", str, description="Events of calls made with this token prefix (ersen_…)"),
            *_TIME_PARAMS,
        ],
        responses=paginated(AuditEventSerializer),
    )
    def get(self, request):
        params = request.query_params
        qs = AuditEvent.objects.select_related("target_type")
        if params.get("action"):
            qs = qs.filter(action=params["action"])
        if params.get("action_prefix"):
            qs = qs.filter(action__startswith=params["action_prefix"])
        if params.get("actor"):
            qs = qs.filter(actor_name=params["actor"])
        if params.get("target_type"):
            qs = qs.filter(target_type=_content_type(params["target_type"]))
        if params.get("target_id"):
            qs = qs.filter(target_id=params["target_id"])
        if params.get("api_token"):
            qs = qs.filter(data__api_token__startswith=params["api_token"] + " ")
        return _created_between_page(self, request, qs, AuditEventSerializer)


class AuditEventDetailView(OpsAPIView):
    read_perms = (P_AUDIT,)

    @extend_schema(operation_id="audit_events_retrieve", responses=AuditEventSerializer)
    def get(self, request, event_id: int):
        return Response(AuditEventSerializer(get_object_or_404(AuditEvent, pk=event_id)).data)


def _created_between_page(view, request, qs, serializer):
    """One cursor page of `qs`, limited by the `since` / `until` parameters (created_at, ISO 8601)."""
    since, until = _datetime(request, "since"), _datetime(request, "until")
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    paginator = CursorPagination()
    page = paginator.paginate_queryset(qs, request, view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def _deliveries(request):
    qs = NotificationDelivery.objects.select_related("related_type")
    if not request.user.has_perm(P_SUBSCRIBERS):
        qs = qs.exclude(channel__in=SubscriberChannel.values)
    return qs


class DeliveryListView(OpsAPIView):
    read_perms = (P_DELIVERIES,)

    @extend_schema(
        operation_id="deliveries_list",
        parameters=[
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
            OpenApiParameter("channel", str, enum=[value for value, _ in DELIVERY_CHANNEL_CHOICES]),
            OpenApiParameter("event", str, description="Exact event, e.g. maintenance.scheduled"),
            OpenApiParameter("related_type", str, description="app_label.model"),
            OpenApiParameter("related_id", str),
            *_TIME_PARAMS,
        ],
        responses=paginated(DeliverySerializer),
    )
    def get(self, request):
        params = request.query_params
        qs = _deliveries(request)
        channels = [value for value, _ in DELIVERY_CHANNEL_CHOICES]
        for field, choices in (("status", DeliveryStatus.values), ("channel", channels)):
            value = params.get(field)
            if value:
                if value not in choices:
                    raise serializers.ValidationError({field: [f"Choose one of {', '.join(choices)}."]})
                qs = qs.filter(**{field: value})
        if params.get("event"):
            qs = qs.filter(event=params["event"])
        if params.get("related_type"):
            qs = qs.filter(related_type=_content_type(params["related_type"]))
        if params.get("related_id"):
            qs = qs.filter(related_id=params["related_id"])
        return _created_between_page(self, request, qs, DeliverySerializer)


class DeliveryDetailView(OpsAPIView):
    read_perms = (P_DELIVERIES,)

    @extend_schema(operation_id="deliveries_retrieve", responses=DeliverySerializer)
    def get(self, request, delivery_id: int):
        return Response(DeliverySerializer(get_object_or_404(_deliveries(request), pk=delivery_id)).data)
