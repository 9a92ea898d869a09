"""django-q entry points of the status app (thin: they call services)."""

from ersen_ops.status.uptime.services import uptime_sweep as _uptime_sweep


def uptime_sweep() -> dict:
    """Every minute: record a status change a crashed process missed, roll up finished days, prune."""
    return _uptime_sweep()
