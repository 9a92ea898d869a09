"""Routes other apps register under /api/ops/v1/ (api/routes.py): api imports none of them."""

from __future__ import annotations

from django.urls import resolve, reverse

from alerting.api import AlertmanagerWebhookView, GrafanaWebhookView


def test_alertings_webhooks_are_served_in_the_api_namespace_before_its_catch_all():
    assert reverse("api:alerts-alertmanager") == "/api/ops/v1/alerts/alertmanager"
    assert reverse("api:alerts-grafana") == "/api/ops/v1/alerts/grafana"
    assert resolve("/api/ops/v1/alerts/alertmanager").func.view_class is AlertmanagerWebhookView
    assert resolve("/api/ops/v1/alerts/grafana").func.view_class is GrafanaWebhookView
    assert resolve("/api/ops/v1/alerts/nothing").url_name == "not-found"
