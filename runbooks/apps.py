from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"

    def ready(self):
        from ersen_ops.notifications.reliance import register_reliance
        from runbooks import tasks  # noqa: F401 - connects the pre_execute receiver in every worker
        from runbooks.policy import channel_reliances

        register_reliance(channel_reliances)  # the control room and ops_doctor warn about unset channels

        from runbooks import window_hooks

        window_hooks.register()  # backup evidence, the window page's panel and the summary's runs (maintenance)
