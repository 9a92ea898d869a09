"""django-q entry points for the checks: thin, they only call services."""

from django.utils import timezone

from ersen_ops.core.db import db_retry

from . import services


@db_retry
def rollup() -> None:
    services.results_rollup(now=timezone.now())


@db_retry
def prune() -> dict:
    return services.results_prune(now=timezone.now())


@db_retry
def automation_sweep() -> dict:
    now = timezone.now()
    return {**services.automation_sweep(now=now), **services.evidence_sweep(now=now)}
