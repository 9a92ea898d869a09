from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"

    def ready(self):
        from runbooks import tasks  # noqa: F401 - connects the pre_execute receiver in every worker
