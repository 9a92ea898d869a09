"""`OpsAPIView`, the base class of every endpoint under /api/ops/v1/: token authentication, scope permission and
rate limit (api.authentication), problem details (api.problems), Idempotency-Key on POST, the token in audit events.

How another app adds an endpoint: README "Operations API" → "Adding an endpoint".
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.cache import patch_vary_headers
from rest_framework.response import Response
from rest_framework.views import APIView

from api import policy
from api.authentication import SAFE_METHODS, HasScope, TokenAuthentication, TokenRateThrottle
from api.choices import TokenScope
from api.models import ApiToken, IdempotencyRecord
from api.problems import ProblemError
from ersen_ops.core import context


def _refuse_nul(*pairs) -> None:
    """A NUL character can never be stored (PostgreSQL text refuses it): bad input, said as such, not a 500."""
    from rest_framework.exceptions import ValidationError

    for items in pairs:
        for name, value in items:
            values = value if isinstance(value, list) else [value]
            if any("\x00" in str(v) for v in values):
                raise ValidationError({name: ["Null characters are not allowed."]})


def _has_nul(data) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_nul(v) for v in data)
    return False


class OpsAPIView(APIView):
    """Base of every endpoint under /api/ops/v1/.

    - `write_scope`: the token scope POST/PATCH/PUT/DELETE need (GET needs `read_scope`, default "read").
    - `read_perms` / `write_perms`: Django permissions checked on the token's user before the handler; the
      services still check their own (never write a rule twice: list here only what the service does not check).
    - POST honours `Idempotency-Key`: the same key and body replay the first successful answer; another body → 422.
    - While the handler runs, every `audit.record()` adds `"api_token": "ersen_… (name)"` to the event's data;
      the actor is `request.user`, so pass `actor=request.user` to the services.
    """

    authentication_classes = [TokenAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [TokenRateThrottle]
    read_scope: str | None = TokenScope.READ
    write_scope: str | None = None
    read_perms: tuple[str, ...] = ()
    write_perms: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        _refuse_nul(request.query_params.lists(), kwargs.items())
        if request.method not in SAFE_METHODS and _has_nul(request.data):
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"body": ["Null characters are not allowed (in keys or values)."]})
        if isinstance(request.auth, ApiToken):
            self._audit_token = context.set_api_token(request.auth.label)

    def dispatch(self, request, *args, **kwargs):
        # REST framework's lifecycle, with Idempotency-Key around POST handlers and the audit token reset after.
        self.args, self.kwargs = args, kwargs
        self._audit_token = None
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            if request.method.lower() in self.http_method_names:
                handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            if request.method == "POST":
                response = self.handle_idempotent(request, handler, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        finally:
            if self._audit_token is not None:
                context.reset_api_token(self._audit_token)
                self._audit_token = None
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "_ops_rate", None)
        if decision is not None:
            response["RateLimit-Limit"] = str(decision.limit)
            response["RateLimit-Remaining"] = str(decision.remaining)
            response["RateLimit-Reset"] = str(decision.reset_seconds)
        patch_vary_headers(response, ["Authorization"])
        return response

    # --- Idempotency-Key on POST -----------------------------------------------------------------------------

    def handle_idempotent(self, request, handler, *args, **kwargs) -> Response:
        """Run `handler` once per (token, key): the record and the change commit together, so a retry that races
        the first call waits for it (unique index) and then replays its answer."""
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or not isinstance(request.auth, ApiToken):
            return handler(request, *args, **kwargs)
        if len(key) > policy.IDEMPOTENCY_KEY_MAX:
            raise ProblemError(
                f"Idempotency-Key is {len(key)} characters; at most {policy.IDEMPOTENCY_KEY_MAX}.",
                status_code=400,
                code="idempotency_key",
            )
        fingerprint = policy.fingerprint(method=request.method, path=request.get_full_path(), body=request.body)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    entry = IdempotencyRecord.objects.create(token=request.auth, key=key, fingerprint=fingerprint)
            except IntegrityError:
                return self._replay(request.auth, key, fingerprint)
            response = handler(request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                entry.status_code = response.status_code
                entry.response_body = response.data
                entry.location = response.get("Location", "")
                entry.save(update_fields=["status_code", "response_body", "location"])
            else:  # a refusal is not remembered: a retry after fixing the cause runs again
                entry.delete()
        return response

    def _replay(self, token, key, fingerprint) -> Response:
        entry = IdempotencyRecord.objects.filter(token=token, key=key).first()
        if entry is None or entry.status_code == 0:
            raise ProblemError(
                "A request with this Idempotency-Key is still being processed; retry in a moment.",
                status_code=409,
                code="idempotency_in_progress",
            )
        if entry.fingerprint != fingerprint:
            raise ProblemError(
                "This Idempotency-Key was already used with another request (method, path or body differ); "
                "use a new key for a new request.",
                status_code=422,
                code="idempotency_key_reused",
            )
        headers = {"Idempotent-Replayed": "true"}
        if entry.location:
            headers["Location"] = entry.location
        return Response(entry.response_body, status=entry.status_code, headers=headers)
