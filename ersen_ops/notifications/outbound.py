"""Every outgoing webhook POST (Discord, Slack, pager, subscriber webhooks) goes through `webhook_post`.

Whoever can set a webhook URL must not be able to make the worker talk to the inside of the network
(SSRF): the metadata service of the cloud (169.254.169.254, fd00:ec2::254), the database, an admin
port on loopback. So, for each send:

1. the host name is resolved ONCE, and every address it resolves to is checked: loopback, private,
   link-local, unique-local, multicast, reserved, unspecified, shared (CGNAT) and metadata addresses
   are refused unless a network of OPS_WEBHOOK_ALLOW_NETWORKS (comma-separated CIDRs) contains them;
2. the connection goes to that checked address (the URL is rewritten to it), with the original name
   in the Host header and, for https, as the TLS server name (SNI) and the name the certificate must
   match — so a DNS answer that changes between the check and the connect (rebinding) cannot
   redirect the request;
3. redirects are never followed: a 3xx is refused with its Location in words.

A refusal (`WebhookRefused`) happens before any connection is opened; senders record it on the
delivery as a permanent failure. `literal_address_refusal` gives the same words at form time for
a URL whose host is a literal address.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: the credentials of the machine the worker runs on.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
ALLOW_SETTING = "OPS_WEBHOOK_ALLOW_NETWORKS"


class WebhookRefused(Exception):
    """The target is not allowed (or a redirect was answered). `str(exc)` is the reason, in words."""


def address_kind(address: IPAddress) -> str | None:
    """What makes `address` internal ("a private address" …), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


@lru_cache(maxsize=32)
def _networks(values: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def allowed_networks() -> tuple:
    return _networks(tuple(getattr(settings, ALLOW_SETTING, ()) or ()))


def refusal(host: str, address: IPAddress) -> str | None:
    """The reason to refuse `address` (what `host` resolved to), or None if it may be used."""
    kind = address_kind(address)
    if kind is None or any(address in network for network in allowed_networks()):
        return None
    shown = f"{host} resolves to {address}," if host != str(address) else f"{address} is"
    return f"refused: {shown} {kind}; allow it with {ALLOW_SETTING}"


def literal_address_refusal(url: str) -> str | None:
    """At form time: a URL whose host is a literal internal address gets the words of the send-time refusal."""
    host = urlsplit(url or "").hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked on what it resolves to, at every send
    return refusal(host, address)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order (duplicates dropped)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise requests.exceptions.ConnectionError(f"{host} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _PinnedHostAdapter(HTTPAdapter):
    """Connects to the URL's (checked) address; TLS uses the original name for SNI and the certificate check."""

    def __init__(self, server_name: str, **kwargs):
        self.server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs.update(server_hostname=self.server_name, assert_hostname=self.server_name)
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _connect_failed(exc: requests.RequestException) -> bool:
    """True when no byte was sent (refused / unreachable / connect timeout): another address may be tried."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def webhook_post(url: str, *, timeout, headers: dict | None = None, json=None, data=None, verify=True):
    """POST to `url` after the checks of the module docstring. Returns the `requests.Response` of a non-3xx answer.

    Raises `WebhookRefused` (before connecting, or on a redirect), `requests.RequestException` on network errors
    (`InvalidURL` for a URL that is not http(s) with a host).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise requests.exceptions.InvalidURL("not an http(s) URL with a host name")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise requests.exceptions.InvalidURL("the port is not a number from 0 to 65535") from None
    addresses = resolve(host, port)
    for address in addresses:
        reason = refusal(host, address)
        if reason:
            raise WebhookRefused(reason)
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host_header.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    last_error: requests.RequestException | None = None
    for address in addresses:
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        with requests.Session() as session:
            session.trust_env = False  # no proxy or CA bundle from the environment: the checked address is used
            session.mount(f"{parts.scheme}://", _PinnedHostAdapter(host, max_retries=0))
            try:
                response = session.post(
                    pinned,
                    headers={**(headers or {}), "Host": host_header},
                    json=json,
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                    verify=verify,
                )
            except requests.RequestException as exc:
                if _connect_failed(exc):
                    last_error = exc
                    continue
                raise
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "") or "(no Location header)"
            raise WebhookRefused(
                f"refused to follow a redirect: HTTP {response.status_code} to {location[:300]}; "
                "webhooks are never redirected: set the final address"
            )
        return response
    assert last_error is not None
    raise last_error
