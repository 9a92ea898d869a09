"""django-q entry points of the subscribers app (ids in, the services do the work)."""

from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again


@db_retry
def notice_from_status_post(post_id: int):
    from subscribers.fanout import notice_from_status_post as create

    notice = create(post_id=post_id)
    return notice.public_id if notice is not None else None


@db_retry
def detect_component_changes():
    from subscribers.fanout import component_changes_detect

    return [notice.public_id for notice in component_changes_detect()]


@db_retry
def deliver_chunk(chunk_id: int) -> int:
    from subscribers.fanout import chunk_deliver

    return chunk_deliver(chunk_id=chunk_id)


@db_retry
def sweep() -> dict:
    from subscribers.fanout import component_changes_detect, fanout_sweep

    counts = fanout_sweep()
    counts["component_notices"] = len(component_changes_detect())
    return counts


@db_retry
def reduce_deliveries() -> dict:
    from subscribers.fanout import notice_deliveries_reduce

    return notice_deliveries_reduce()
