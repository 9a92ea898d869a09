"""RFC 9457 problem details (`application/problem+json`) for every error the operations API returns.

A domain error (ersen_ops.core.errors) keeps its operator-readable message as `detail` and names the rule that
refused in `code`; bad input is a 4xx, never a 5xx.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from ersen_ops.core.errors import DomainError, InvalidTransition, PermissionRefused, PolicyViolation

logger = logging.getLogger("django.request")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:ersen-ops:problem:"

# Which HTTP status a domain error class gets (the most specific class wins; DomainError itself is a 422).
DOMAIN_STATUS = (
    (PermissionRefused, status.HTTP_403_FORBIDDEN),
    (InvalidTransition, status.HTTP_409_CONFLICT),
    (PolicyViolation, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (DomainError, status.HTTP_422_UNPROCESSABLE_ENTITY),
)

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


class ProblemError(exceptions.APIException):
    """Raise from a view for a problem with its own status and code (e.g. an idempotency conflict)."""

    def __init__(self, detail: str, *, status_code: int, code: str, extra: dict | None = None):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.problem_code = code
        self.extra = extra or {}


def problem_response(
    *, status_code: int, code: str, detail: str, request=None, extra: dict | None = None, headers=None
) -> Response:
    body = {
        "type": TYPE_BASE + code,
        "title": _title(status_code),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.path
        request_id = getattr(request, "request_id", "") or getattr(getattr(request, "_request", None), "request_id", "")
        if request_id:
            body["request_id"] = request_id
    body.update(extra or {})
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _title(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(v) for v in detail)
    return str(detail)


def exception_handler(exc, context):
    """REST framework's EXCEPTION_HANDLER: every error as problem details."""
    request = context.get("request")
    if isinstance(exc, DomainError):
        status_code = next(code for cls, code in DOMAIN_STATUS if isinstance(exc, cls))
        extra = {"details": exc.details} if exc.details else {}
        return problem_response(
            status_code=status_code, code=exc.code, detail=exc.message, request=request, extra=extra
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("Database unavailable: %s", getattr(request, "path", "?"), exc_info=exc)
        return problem_response(
            status_code=503,
            code="database_unavailable",
            detail="The portal's database is unreachable right now; retry in a few seconds (with the same "
            "Idempotency-Key: nothing was changed).",
            request=request,
            headers={"Retry-After": "5"},
        )
    if not isinstance(exc, exceptions.APIException):
        # A bug: logged with its traceback (as Django logs a 500), answered as a problem without one.
        logger.error("Internal Server Error: %s", getattr(request, "path", "?"), exc_info=exc)
        return problem_response(
            status_code=500,
            code="internal",
            detail="Something went wrong on the portal's side; it was logged under this request id.",
            request=request,
        )
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait + 0.999))
    if isinstance(exc, ProblemError):
        return problem_response(
            status_code=exc.status_code,
            code=exc.problem_code,
            detail=str(exc.detail),
            request=request,
            extra=exc.extra,
            headers=headers,
        )
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        extra["errors"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail = "The request is not valid: " + _flatten(exc.detail)
    else:
        detail = _flatten(exc.detail)
    return problem_response(
        status_code=exc.status_code, code=code, detail=detail, request=request, extra=extra, headers=headers
    )
