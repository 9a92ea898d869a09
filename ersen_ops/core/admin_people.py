"""The changelist filter behind `people.person_link()`: ?person=<user id> keeps the rows of that person."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q


def person_filter(*fields: str, title: str = "person"):
    """A list filter on ?person=<id> matching any of `fields` (e.g. owner, on_call_engineer). Shown only while set,
    with its name, so "All" clears it."""

    class PersonFilter(admin.SimpleListFilter):
        parameter_name = "person"

        def lookups(self, request, model_admin):
            value = self.value()
            if not (value or "").isdigit():
                return []
            user = get_user_model()._default_manager.filter(pk=value).first()
            return [(value, user.get_username() if user else f"user #{value}")]

        def queryset(self, request, queryset):
            value = self.value()
            if value is None:
                return queryset
            if not value.isdigit():
                return queryset.none()
            match = Q()
            for f in fields:
                match |= Q(**{f"{f}_id": int(value)})
            return queryset.filter(match)

    PersonFilter.title = title
    return PersonFilter
