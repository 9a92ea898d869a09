"""Routes other apps add under /api/ops/v1/ (a registry, so api imports none of them).

An app that serves endpoints with the API's framework (e.g. alerting's webhooks) registers them in its
`AppConfig.ready()`; `api/urls.py` places them before its catch-all 404, in the `api` namespace.
"""

from __future__ import annotations

_ROUTES: list = []


def register_routes(*patterns) -> None:
    """Add URL patterns (django.urls.path) to the API; a name already registered is replaced."""
    names = {p.name for p in patterns}
    _ROUTES[:] = [p for p in _ROUTES if p.name not in names] + list(patterns)


def registered_routes() -> list:
    return list(_ROUTES)
