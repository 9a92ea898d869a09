from django.apps import AppConfig


class StatuspageConfig(AppConfig):
    """The public side: the status page, the Statuspage v2 API, feeds, calendar and their cache (no models)."""

    name = "statuspage"
    verbose_name = "Public status page"

    def ready(self) -> None:
        from statuspage import signals

        signals.connect()
