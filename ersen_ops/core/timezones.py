"""The operator's time zone: the browser reports it in a cookie; the admin renders times in it."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "ops_tz"


def zone_from_cookie(value: str | None):
    if not value or len(value) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class OperatorTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_from_cookie(request.COOKIES.get(COOKIE))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
