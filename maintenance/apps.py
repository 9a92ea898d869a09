from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance"

    def ready(self):
        from ersen_ops.notifications.reliance import register_reliance
        from maintenance.policy import channel_reliances

        register_reliance(channel_reliances)  # the control room and ops_doctor warn about unset channels
