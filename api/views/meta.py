"""The token's own view of itself, and problem-details answers for unknown paths."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response

from api.framework import OpsAPIView
from api.problems import problem_response
from api.serializers import WhoAmISerializer


class WhoAmIView(OpsAPIView):
    """Who the token acts as: the user, the token (scopes, expiry, last use) and the user's permissions now."""

    @extend_schema(responses=WhoAmISerializer, operation_id="whoami")
    def get(self, request):
        token = request.auth
        return Response(
            WhoAmISerializer(
                {
                    "username": request.user.get_username(),
                    "token": token,
                    "permissions": sorted(request.user.get_all_permissions()),
                }
            ).data
        )


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request, path=""):
    return problem_response(
        status_code=404,
        code="not_found",
        detail=f"No endpoint {request.path}; the schema is at /api/ops/v1/schema/ and the docs at /api/ops/v1/docs/.",
        request=request,
    )
