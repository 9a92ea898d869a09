"""Factories and helpers for maintenance tests. Times are fixed: Tuesday 2027-01-12 02:00 PST = 10:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory

from maintenance.choices import MaintenanceType
from maintenance.models import FreezePeriod, MaintenanceWindow
from tests.factories import ComponentFactory, UserFactory

# Tuesday 12 January 2027, 02:00–03:00 PST (UTC-8).
JAN_TUE_0200 = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
# Tuesday 13 July 2027, 02:00–03:00 PDT (UTC-7).
JUL_TUE_0200 = datetime(2027, 7, 13, 9, 0, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Deploy release {n}")
    type = MaintenanceType.ROUTINE
    planned_start = JAN_TUE_0200
    planned_end = factory.LazyAttribute(lambda w: w.planned_start + timedelta(hours=1))
    impact = "The dashboard is read-only; widgets keep working."
    reason = "Deploying release 2.4 with a database migration."
    rollback_plan = "Redeploy 2.3 and restore the pre-maintenance backup."
    owner = factory.SubFactory(UserFactory)
    on_call_engineer = factory.SubFactory(UserFactory)

    @factory.post_generation
    def components(self, create, extracted, **kwargs):
        if not create:
            return
        self.components.set(extracted if extracted is not None else [ComponentFactory(name="Database")])


class FreezePeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FreezePeriod

    name = "Holiday freeze"
    start = utc(2027, 1, 11, 0, 0)
    end = utc(2027, 1, 14, 0, 0)
    reason = "Peak traffic."
