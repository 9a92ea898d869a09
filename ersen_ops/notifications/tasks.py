"""django-q entry points for sending notifications (ids in, services do the work)."""


def send_delivery(delivery_id: int) -> None:
    from ersen_ops.notifications.sending import send

    send(delivery_id)
