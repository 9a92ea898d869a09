"""OpenAPI additions: the bearer-token security scheme and the problem-details responses of every operation."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` names the rule that refused; `detail` is operator-readable.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "details": {"type": "array", "items": {"type": "string"}},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["type", "title", "status", "detail", "code"],
}

_PROBLEMS = {
    "400": "Bad input (the `errors` member names each field).",
    "401": "No token, or the token is unknown, expired or revoked.",
    "403": "The token lacks the scope, or its user the permission.",
    "404": "No such object.",
    "409": "The object is not in a state that allows this (or an Idempotency-Key is in use).",
    "422": "A rule refused (maintenance policy, four-eyes, …) or an Idempotency-Key was reused with another body.",
    "429": "Rate limit of the token reached (see Retry-After).",
}


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ersen_<prefix>_<secret> (a personal access token)",
        }


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents its problem responses with one shared schema."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in _PROBLEMS.items():
                responses.setdefault(
                    code, {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": ref}}}
                )
    return result
