from django.apps import AppConfig


class AlertingConfig(AppConfig):
    name = "alerting"
    verbose_name = "Alert intake"

    def ready(self) -> None:
        from django.urls import path

        from alerting.api import AlertmanagerWebhookView, GrafanaWebhookView
        from api.routes import register_routes

        # Served by the API's framework under /api/ops/v1/ (names api:alerts-alertmanager, api:alerts-grafana).
        register_routes(
            path("alerts/alertmanager", AlertmanagerWebhookView.as_view(), name="alerts-alertmanager"),
            path("alerts/grafana", GrafanaWebhookView.as_view(), name="alerts-grafana"),
        )
