from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "ersen_ops.status"
    label = "status"
    verbose_name = "Public status"

    def ready(self) -> None:
        from ersen_ops.status import signals

        signals.connect()
