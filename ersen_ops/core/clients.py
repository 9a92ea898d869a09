"""Who is asking: the client's address, the same rule everywhere (subscriber rate limits, login lockout, audit)."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(*, remote_addr: str, forwarded_for: str, behind_proxy: bool) -> str:
    """The visitor's address. Behind our proxy (Traefik), the last X-Forwarded-For entry is the one the proxy
    added; anything before it was written by the client and cannot be trusted. An entry that is not an
    address at all (a misconfigured proxy) is not believed either: the connection's address is used."""
    if behind_proxy and forwarded_for:
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return (remote_addr or "").strip()


def request_client_ip(request) -> str | None:
    """`client_ip()` of a Django request, None when there is none (django-axes' AXES_CLIENT_IP_CALLABLE)."""
    return (
        client_ip(
            remote_addr=request.META.get("REMOTE_ADDR", ""),
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
            behind_proxy=settings.BEHIND_PROXY,
        )
        or None
    )
