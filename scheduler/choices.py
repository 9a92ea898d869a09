"""Scheduler enumerations: what became of a due occurrence, the audit event names, colours."""

from django.db import models


class Outcome(models.TextChoices):
    RAN = "ran", "Ran"
    SKIPPED = "skipped", "Skipped"
    MISSED = "missed", "Missed (worker down)"


OUTCOME_COLOURS = {Outcome.RAN: "#2e7d32", Outcome.SKIPPED: "#757575", Outcome.MISSED: "#c62828"}


class Event(models.TextChoices):
    SCHEDULE_CREATED = "scheduler.schedule.created"
    SCHEDULE_CHANGED = "scheduler.schedule.changed"
    SCHEDULE_DELETED = "scheduler.schedule.deleted"
    OCCURRENCE_RECORDED = "scheduler.occurrence.recorded"
    PAUSED = "scheduler.paused"
    RESUMED = "scheduler.resumed"


class Alert(models.TextChoices):
    MISSED = "scheduler.occurrence.missed"
    REFUSED = "scheduler.occurrence.refused"
