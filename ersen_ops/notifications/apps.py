from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "ersen_ops.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from ersen_ops.notifications.masking import install_log_masking

        # Secrets never reach a log line, whoever logs them (us, urllib3, django-q).
        install_log_masking()
