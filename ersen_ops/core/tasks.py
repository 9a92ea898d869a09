"""django-q entry points for site-wide housekeeping."""

from ersen_ops.core import services


def heartbeat():
    services.worker_heartbeat(name="cluster")


def prune_task_deliveries():
    return services.prune_task_deliveries()
