"""The incident settings as policy objects: the sprint calendar and the P1 re-page interval."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from incidents.policy import SprintCalendar


def sprint_calendar() -> SprintCalendar:
    return SprintCalendar(
        start=settings.OPS_SPRINT_START, days=settings.OPS_SPRINT_DAYS, zone=settings.OPS_MAINTENANCE_TZ
    )


def repage_interval() -> timedelta:
    return timedelta(minutes=settings.OPS_P1_REPAGE_MINUTES)
