"""URLs of the operations API, mounted at /api/ops/v1/ by ersen_ops/urls.py."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.routes import registered_routes
from api.views import components, deploy_gate, incidents, maintenance, meta, records, runbooks

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("me", meta.WhoAmIView.as_view(), name="whoami"),
    path("components", components.ComponentListView.as_view(), name="components"),
    path("components/<str:component_id>", components.ComponentDetailView.as_view(), name="component"),
    path("components/<str:component_id>/status", components.ComponentStatusView.as_view(), name="component-status"),
    path("deploy-gate", deploy_gate.DeployGateView.as_view(), name="deploy-gate"),
    path("maintenance-windows", maintenance.WindowListView.as_view(), name="windows"),
    path("maintenance-windows/<str:window_id>", maintenance.WindowDetailView.as_view(), name="window"),
    path("maintenance-windows/<str:window_id>/schedule", maintenance.WindowScheduleView.as_view()),
    path("maintenance-windows/<str:window_id>/start", maintenance.WindowStartView.as_view()),
    path("maintenance-windows/<str:window_id>/eta", maintenance.WindowEtaView.as_view()),
    path("maintenance-windows/<str:window_id>/complete", maintenance.WindowCompleteView.as_view()),
    path("maintenance-windows/<str:window_id>/cancel", maintenance.WindowCancelView.as_view()),
    path("maintenance-windows/<str:window_id>/checklist", maintenance.ChecklistView.as_view()),
    path(
        "maintenance-windows/<str:window_id>/checklist/<int:item_id>/approve",
        maintenance.ChecklistApproveView.as_view(),
    ),
    path("maintenance-windows/<str:window_id>/on-call/confirm", maintenance.OnCallConfirmView.as_view()),
    path("incidents", incidents.IncidentListView.as_view(), name="incidents"),
    path("incidents/<str:incident_id>", incidents.IncidentDetailView.as_view(), name="incident"),
    path("incidents/<str:incident_id>/updates", incidents.IncidentUpdateView.as_view()),
    path("incidents/<str:incident_id>/acknowledge", incidents.IncidentAcknowledgeView.as_view()),
    path("incidents/<str:incident_id>/level", incidents.IncidentLevelView.as_view()),
    path("incidents/<str:incident_id>/resolve", incidents.IncidentResolveView.as_view()),
    path("executions", runbooks.ExecutionListView.as_view(), name="executions"),
    path("executions/<int:execution_id>", runbooks.ExecutionDetailView.as_view(), name="execution"),
    path("executions/<int:execution_id>/output", runbooks.ExecutionOutputView.as_view()),
    path("executions/<int:execution_id>/cancel", runbooks.ExecutionCancelView.as_view()),
    path("audit-events", records.AuditEventListView.as_view(), name="audit-events"),
    path("audit-events/<int:event_id>", records.AuditEventDetailView.as_view(), name="audit-event"),
    path("deliveries", records.DeliveryListView.as_view(), name="deliveries"),
    path("deliveries/<int:delivery_id>", records.DeliveryDetailView.as_view(), name="delivery"),
    *registered_routes(),  # e.g. alerting's webhooks, alerts/alertmanager and alerts/grafana (api/routes.py)
    re_path(r"^(?P<path>.*)$", meta.not_found, name="not-found"),
]
