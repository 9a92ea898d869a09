from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "ersen_ops.notifications"
    label = "notifications"
    verbose_name = "Notifications"
