from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Operations API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from api import schema  # noqa: F401  (registers the OpenAPI extension of the token authentication)
