"""django-q entry points of the scheduler: thin, they only call services."""

from ersen_ops.core.db import db_retry

from . import services


@db_retry
def tick() -> dict:
    return services.tick()
