from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "ersen_ops.status"
    label = "status"
    verbose_name = "Public status"

    def ready(self) -> None:
        from ersen_ops.notifications.channels import register_channel
        from ersen_ops.status import signals
        from ersen_ops.status.channels import StatusPageChannel

        register_channel(StatusPageChannel())  # status-page deliveries become StatusPosts
        signals.connect()
