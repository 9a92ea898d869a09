from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Scheduler"

    def ready(self):
        from ersen_ops.notifications.reliance import register_reliance
        from scheduler.policy import channel_reliances

        register_reliance(channel_reliances)  # the control room and ops_doctor warn about unset channels
