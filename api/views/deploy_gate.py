"""GET /api/ops/v1/deploy-gate?components=api,website[&window=mnt_…][&reference=…]: may CI deploy now?

The decision is maintenance's (maintenance.services.deploy_gate_check → maintenance.policy.deploy_gate), audited
with the token's user and the token; a denial is an answer (200, "allowed": false), not an error.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.framework import OpsAPIView
from maintenance import services as maintenance


class DeployGateQuerySerializer(serializers.Serializer):
    components = serializers.CharField(
        max_length=1000, help_text="Comma-separated component names (any case) or ids: api,website"
    )
    window = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Check this window (mnt_…) only."
    )
    reference = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="Who is asking, e.g. the CI job's URL (audited)."
    )


class DeployGateSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Refusals first, then what it rests on.")
    refused_by = serializers.ListField(
        child=serializers.CharField(), help_text="components | window | checklist | freeze"
    )
    windows = serializers.ListField(child=serializers.CharField(), help_text="The windows the deploy runs under.")
    components = serializers.ListField(child=serializers.CharField(), help_text="As the status page names them.")
    checked_at = serializers.DateTimeField()


class DeployGateView(OpsAPIView):
    """The deploy gate: the maintenance protocol's answer for a deploy of these components now."""

    @extend_schema(
        parameters=[
            OpenApiParameter("components", str, required=True, description="api,website"),
            OpenApiParameter("window", str, required=False, description="mnt_…"),
            OpenApiParameter("reference", str, required=False, description="The CI job asking (audited)."),
        ],
        responses=DeployGateSerializer,
        operation_id="deploy_gate",
    )
    def get(self, request):
        query = DeployGateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        components = maintenance.split_components(query.validated_data["components"])
        reference = query.validated_data.get("reference", "").strip()
        decision = maintenance.deploy_gate_check(
            actor=request.user,
            components=components,
            window=query.validated_data.get("window", ""),
            now=now,
            details={"reference": reference} if reference else None,
            request=request._request,
        )
        return Response(
            DeployGateSerializer(
                {
                    "allowed": decision.allowed,
                    "reasons": list(decision.reasons),
                    "refused_by": list(decision.refused_by),
                    "windows": list(decision.windows),
                    "components": list(decision.components),
                    "checked_at": now,
                }
            ).data
        )
