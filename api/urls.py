"""URLs of the operations API, mounted at /api/ops/v1/ by ersen_ops/urls.py."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from alerting.api import AlertmanagerWebhookView, GrafanaWebhookView
from api.views import components, deploy_gate, meta

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("me", meta.WhoAmIView.as_view(), name="whoami"),
    path("components", components.ComponentListView.as_view(), name="components"),
    path("components/<str:component_id>", components.ComponentDetailView.as_view(), name="component"),
    path("components/<str:component_id>/status", components.ComponentStatusView.as_view(), name="component-status"),
    path("deploy-gate", deploy_gate.DeployGateView.as_view(), name="deploy-gate"),
    path("alerts/alertmanager", AlertmanagerWebhookView.as_view(), name="alerts-alertmanager"),
    path("alerts/grafana", GrafanaWebhookView.as_view(), name="alerts-grafana"),
    re_path(r"^(?P<path>.*)$", meta.not_found, name="not-found"),
]
