"""Declared django-q schedules of the checks app (see ersen_ops.core.scheduling).

Storage stays bounded: raw results are rolled up every 10 minutes and pruned after OPS_CHECK_RAW_DAYS (hourly rollups
after OPS_CHECK_HOURLY_DAYS, daily ones after OPS_CHECK_DAILY_DAYS); the automation sweep is the safety net of the
checker's own (resolutions after the quiet period, take-overs, evidence)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    Every(name="checks.rollup", func="checks.tasks.rollup", minutes=10),
    Every(name="checks.prune", func="checks.tasks.prune", minutes=60),
    Every(name="checks.automation_sweep", func="checks.tasks.automation_sweep", minutes=1),
]
