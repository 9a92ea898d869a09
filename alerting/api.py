"""POST /api/ops/v1/alerts/alertmanager and /alerts/grafana: the webhooks, each authenticated by its integration's
own token (`Authorization: Bearer eoa_…`), not a person's. The work is alerting.services.alerts_receive."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, permissions, serializers
from rest_framework.response import Response

from alerting import selectors, services
from alerting.choices import Source
from alerting.models import AlertIntegration
from api.framework import OpsAPIView
from ersen_ops.core.clients import request_client_ip


class IntegrationTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer eoa_…` → (anonymous user, the integration). A person's token is refused here."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        integration = selectors.integration_for_token(raw.strip()) if keyword.lower() == "bearer" else None
        if integration is None:
            raise exceptions.AuthenticationFailed(
                "Expected “Authorization: Bearer eoa_…” with an alert integration's token (admin → Alert intake → "
                "Alert integrations)."
            )
        return AnonymousUser(), integration

    def authenticate_header(self, request):
        return 'Bearer realm="ersen-ops-alerts"'


class IntegrationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "alerting.api.IntegrationTokenAuthentication"
    name = "alertIntegrationToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "eoa_<secret> (an alert integration's token)"}


class IsIntegration(permissions.BasePermission):
    message = "This endpoint takes an alert integration's token."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, AlertIntegration)


class ReceiveResultSerializer(serializers.Serializer):
    notification = serializers.CharField()
    received = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    incidents = serializers.ListField(child=serializers.CharField())


class _WebhookView(OpsAPIView):
    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [IsIntegration]
    throttle_classes = []  # an alert is never dropped for a rate limit; the sender's grouping bounds the traffic
    read_scope = None
    source: str = ""

    def post(self, request):
        result = services.alerts_receive(
            integration=request.auth, source=self.source, payload=request.data, remote_addr=request_client_ip(request)
        )
        return Response(ReceiveResultSerializer(result.as_dict()).data)


class AlertmanagerWebhookView(_WebhookView):
    """Prometheus Alertmanager's webhook_config (payload version 4)."""

    source = Source.ALERTMANAGER

    @extend_schema(request=OpenApiTypes.OBJECT, responses=ReceiveResultSerializer, operation_id="alerts_alertmanager")
    def post(self, request):
        return super().post(request)


class GrafanaWebhookView(_WebhookView):
    """Grafana alerting's webhook contact point."""

    source = Source.GRAFANA

    @extend_schema(request=OpenApiTypes.OBJECT, responses=ReceiveResultSerializer, operation_id="alerts_grafana")
    def post(self, request):
        return super().post(request)
