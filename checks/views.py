"""The public heartbeat endpoint: a cron job or a backup script calls its secret URL (GET or POST) to say it ran."""

from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import services


@csrf_exempt  # called by scripts (curl), never by a browser session; the secret in the URL is the credential
@never_cache
def heartbeat(request, heartbeat_id: str, secret: str):
    if request.method not in ("GET", "POST", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST", "HEAD"])
    check = services.heartbeat_ping(heartbeat_id=heartbeat_id, secret=secret)
    if check is None:
        return HttpResponse("unknown heartbeat\n", status=404, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
