"""Declared django-q schedules of the audit app (see ersen_ops.core.scheduling)."""

from django.conf import settings

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # The chain's head, written to the witness file outside the database (ersen_ops.audit.witness).
    Every(
        name="audit.checkpoint", func="ersen_ops.audit.tasks.checkpoint", minutes=settings.OPS_AUDIT_CHECKPOINT_MINUTES
    ),
]
