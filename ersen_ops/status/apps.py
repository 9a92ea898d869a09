from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "ersen_ops.status"
    label = "status"
    verbose_name = "Public status"
