from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Health checks"

    def ready(self):
        from checks import services
        from runbooks.backup_events import register_backup_listener

        # The backup freshness check beats on each verified backup with an off-host copy (runbooks announces).
        register_backup_listener(services.heartbeat_from_backup)
