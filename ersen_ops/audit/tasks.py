"""django-q entry points of the audit log."""

from ersen_ops.audit import services


def checkpoint():
    line, problem = services.audit_checkpoint()
    return problem or line.format()
