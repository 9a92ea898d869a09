"""Template context for the access pages (no query)."""

from django.conf import settings


def access(request) -> dict:
    return {
        "ops_reauth_minutes": settings.OPS_REAUTH_MINUTES,
        "ops_session_max_hours": settings.OPS_SESSION_MAX_HOURS,
        "ops_session_idle_minutes": settings.OPS_SESSION_IDLE_MINUTES,
    }
