from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"

    def ready(self) -> None:
        from ersen_ops.notifications.channels import register_channel
        from subscribers import signals
        from subscribers.channels import SubscriberEmailChannel, SubscriberWebhookChannel

        # The notifications app claims, retries, sweeps and audits these deliveries like any other.
        register_channel(SubscriberEmailChannel())
        register_channel(SubscriberWebhookChannel())
        signals.connect()
