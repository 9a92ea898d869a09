"""django-q entry points for site-wide housekeeping."""

from ersen_ops.core import services
from ersen_ops.core.db import db_retry  # a dropped connection: reconnect and run the (idempotent) task again


@db_retry
def heartbeat():
    services.worker_heartbeat(name="cluster")


@db_retry
def prune_task_deliveries():
    return services.prune_task_deliveries()
