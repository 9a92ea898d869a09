"""The webhook target guard (`ersen_ops.notifications.outbound`): internal addresses are refused on the resolved
address, before connecting, as a permanent failure in words; OPS_WEBHOOK_ALLOW_NETWORKS lets chosen networks
through; the request goes to the checked address with the original Host / TLS name; redirects are not followed.

Only loopback is ever a target here: every refusal is asserted to happen before a socket connects."""

from __future__ import annotations

import ipaddress
import socket

import pytest
import requests
from werkzeug import Response

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications import outbound
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.outbound import WebhookRefused, address_kind, refusal, webhook_post
from ersen_ops.notifications.services import notify
from tests.notifications.conftest import SLACK_PATH

LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test if anything opens a TCP connection (a refusal must come first)."""

    def refuse(self, address):
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("::ffff:10.0.0.5", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd12:3456::1", "a unique-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("0.0.0.0", "an unspecified address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("192.0.2.10", "a private address"),  # documentation range
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_internal_addresses_are_named_and_public_ones_pass(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_an_allowed_network_lets_its_addresses_through_and_nothing_else(settings):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = ["10.20.0.0/16"]
    assert refusal("bridge.internal", ipaddress.ip_address("10.20.1.2")) is None
    assert refusal("bridge.internal", ipaddress.ip_address("10.21.1.2")) == (
        "refused: bridge.internal resolves to 10.21.1.2, a private address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS"
    )


def test_without_the_setting_a_literal_private_address_is_refused_before_connecting(settings, no_connections):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = []
    with pytest.raises(WebhookRefused) as refused:
        webhook_post("http://10.0.0.5/hook", json={}, timeout=(1, 1))
    assert str(refused.value) == "refused: 10.0.0.5 is a private address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS"
    with pytest.raises(WebhookRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        webhook_post("http://169.254.169.254/latest/meta-data/", json={}, timeout=(1, 1))
    with pytest.raises(WebhookRefused, match=r"fd00:ec2::254 is a cloud metadata address"):
        webhook_post("http://[fd00:ec2::254]/latest/", json={}, timeout=(1, 1))


@pytest.mark.django_db
def test_a_name_resolving_to_loopback_is_refused_on_its_resolved_address_and_recorded_permanently(
    webhooks, send, settings, no_connections
):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = []
    settings.SLACK_WEBHOOK_URL = webhooks.url_for(SLACK_PATH).replace("127.0.0.1", "localhost")
    assert "//localhost:" in settings.SLACK_WEBHOOK_URL
    with send():
        (delivery,) = notify(event="runbook.execution.failed", channels=[Channel.SLACK], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.next_attempt_at is None, "a refusal is permanent: not retried"
    assert delivery.response == "not sent"
    resolved = {a for *_, (a, *_) in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
    assert delivery.last_error in {
        f"refused: localhost resolves to {a}, a loopback address; allow it with OPS_WEBHOOK_ALLOW_NETWORKS"
        for a in resolved
    }
    failed = AuditEvent.objects.get(action="notification.failed", target_id=str(delivery.pk))
    assert failed.data["error"] == delivery.last_error
    assert len(webhooks.log) == 0


@pytest.mark.django_db
def test_with_the_setting_the_request_goes_to_the_resolved_address_with_the_original_host(
    webhooks, send, settings, monkeypatch
):
    assert settings.OPS_WEBHOOK_ALLOW_NETWORKS == LOOPBACK  # tests/settings.py
    settings.SLACK_WEBHOOK_URL = webhooks.url_for(SLACK_PATH).replace("127.0.0.1", "localhost")
    names = []
    real_getaddrinfo = socket.getaddrinfo

    def observed(host, *args, **kwargs):
        names.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", observed)
    webhooks.expect_request(SLACK_PATH, method="POST").respond_with_data("ok")
    with send():
        (delivery,) = notify(event="runbook.execution.failed", channels=[Channel.SLACK], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    # Resolved once; the connection went to the checked address (a literal), so a second answer cannot differ.
    assert names.count("localhost") == 1
    assert all(n == "localhost" or ipaddress.ip_address(n).is_loopback for n in names)
    request, _ = webhooks.log[0]
    assert request.headers["Host"] == f"localhost:{webhooks.port}"


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_fails_with_its_location(webhooks, send):
    webhooks.expect_request(SLACK_PATH, method="POST").respond_with_response(
        Response("", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    )
    with send():
        (delivery,) = notify(event="runbook.execution.failed", channels=[Channel.SLACK], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert delivery.last_error == (
        "refused to follow a redirect: HTTP 302 to http://169.254.169.254/latest/meta-data/; "
        "webhooks are never redirected: set the final address"
    )
    assert len(webhooks.log) == 1


def test_https_uses_the_original_name_for_sni_and_the_certificate(tmp_path):
    from runbooks.sandbox import TLSServer, make_certificates

    paths = make_certificates(tmp_path, hostname="localhost")
    server = TLSServer(paths["cert"], paths["key"]).start()
    try:
        # The connection goes to 127.0.0.1, yet the certificate (issued to "localhost") is checked against the name.
        response = webhook_post(f"https://localhost:{server.port}/hook", json={}, timeout=(2, 5), verify=paths["ca"])
        assert response.status_code == 501  # the sandbox site only answers GET: TLS itself succeeded
        with pytest.raises(requests.exceptions.SSLError):
            webhook_post(f"https://127.0.0.1:{server.port}/hook", json={}, timeout=(2, 5), verify=paths["ca"])
    finally:
        server.stop()


def test_the_allow_list_is_read_at_send_time(settings):
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = ["10.0.0.0/8"]
    assert outbound.allowed_networks() == (ipaddress.ip_network("10.0.0.0/8"),)
    settings.OPS_WEBHOOK_ALLOW_NETWORKS = []
    assert outbound.allowed_networks() == ()
