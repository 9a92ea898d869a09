"""django-q entry points for sending notifications (ids in, services do the work)."""

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again


def send_deliveries(delivery_ids: list[int]) -> dict:
    """The send task (services.SEND_TASK): a batch of deliveries, each claimed, sent and recorded once."""
    from ersen_ops.notifications.sending import deliveries_send

    return deliveries_send(delivery_ids=list(delivery_ids))


def send_delivery(delivery_id: int) -> str | None:
    """One delivery (tasks queued before SEND_TASK took a list, and the tests' direct calls)."""
    from ersen_ops.notifications.sending import delivery_send

    return delivery_send(delivery_id=delivery_id)


@db_retry
def sweep_deliveries() -> dict:
    from ersen_ops.notifications.sending import deliveries_sweep

    return deliveries_sweep()
