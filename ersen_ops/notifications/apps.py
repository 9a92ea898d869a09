from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "ersen_ops.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from ersen_ops.audit.witness import register_witness_listener
        from ersen_ops.notifications.masking import install_log_masking
        from ersen_ops.notifications.witness import post_witness_to_team_ops

        # Secrets never reach a log line, whoever logs them (us, urllib3, django-q).
        install_log_masking()
        # Each audit checkpoint's witness line is also posted to #team-ops (when configured).
        register_witness_listener(post_witness_to_team_ops)

        from ersen_ops.core.admin_workflow import register_action_reporter
        from ersen_ops.notifications.outcomes import action_report

        # Every admin action's message says what its notifications really came to.
        register_action_reporter(action_report)
