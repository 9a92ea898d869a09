"""The test's remote control of the provider: users with groups, an `amr` per user, extra redirect URIs and the
tamper switch. JSON POSTs with the control token the fixture generated; state lives in this one process."""

from __future__ import annotations

import hmac
import json
import os
import threading

from django.contrib.auth.models import Group, User
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

# What the next ID tokens get wrong (None: nothing). See validator.TAMPER_MODES.
_lock = threading.Lock()
_state: dict = {"tamper": None, "amr": {}}


def tamper_mode() -> str | None:
    with _lock:
        return _state["tamper"]


def amr_for(username: str) -> list[str]:
    with _lock:
        return list(_state["amr"].get(username, ["pwd"]))


@csrf_exempt
def control_view(request):
    token = request.headers.get("X-Control-Token", "")
    if request.method != "POST" or not hmac.compare_digest(token, os.environ["OIDC_PROVIDER_CONTROL_TOKEN"]):
        return HttpResponse(status=403)
    body = json.loads(request.body)
    action = body["action"]
    if action == "user":
        user, _ = User.objects.update_or_create(
            username=body["username"],
            defaults={
                "email": body.get("email", ""),
                "first_name": body.get("first_name", ""),
                "last_name": body.get("last_name", ""),
            },
        )
        user.set_password(body["password"])
        user.save()
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body.get("groups", [])])
        with _lock:
            _state["amr"][user.username] = body.get("amr", ["pwd"])
        return JsonResponse({"sub": str(user.pk)})
    if action == "tamper":
        from tests.oidc_provider.validator import TAMPER_MODES

        mode = body.get("mode")
        if mode is not None and mode not in TAMPER_MODES:
            return JsonResponse({"error": f"unknown tamper mode {mode!r}; known: {sorted(TAMPER_MODES)}"}, status=400)
        with _lock:
            _state["tamper"] = mode
        return JsonResponse({"tamper": mode})
    if action == "redirect_uri":
        from oauth2_provider.models import Application

        app = Application.objects.get(client_id=os.environ["OIDC_PROVIDER_CLIENT_ID"])
        uris = app.redirect_uris.split()
        if body["uri"] not in uris:
            app.redirect_uris = " ".join([*uris, body["uri"]])
            app.save(update_fields=["redirect_uris"])
        return JsonResponse({"redirect_uris": app.redirect_uris.split()})
    return JsonResponse({"error": f"unknown action {action!r}"}, status=400)
