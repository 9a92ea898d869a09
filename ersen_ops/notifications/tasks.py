"""django-q entry points for sending notifications (ids in, services do the work)."""

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again


def send_delivery(delivery_id: int) -> str | None:
    from ersen_ops.notifications.sending import delivery_send

    return delivery_send(delivery_id=delivery_id)


@db_retry
def sweep_deliveries() -> dict:
    from ersen_ops.notifications.sending import deliveries_sweep

    return deliveries_sweep()
