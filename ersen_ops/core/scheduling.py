"""The one place the cluster's schedules are applied.

Each app declares `SCHEDULES = [Every(...), ...]` in its `schedules.py`.
`apply_schedules()` (run by `migrate` via post_migrate and by
`manage.py apply_schedules`) makes django-q's Schedule table match exactly:
creates what is missing, updates what changed, deletes declared-by-us
schedules that are no longer declared. Running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.utils.module_loading import import_string, module_has_submodule

PREFIX = "ersen:"


@dataclass(frozen=True)
class Every:
    name: str
    func: str
    minutes: int


def declared() -> list[Every]:
    specs: list[Every] = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "schedules"):
            specs.extend(import_string(f"{config.name}.schedules.SCHEDULES"))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"schedule names declared twice: {sorted(duplicates)}")
    return specs


def apply_schedules() -> dict[str, int]:
    from django_q.models import Schedule

    counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    wanted = {PREFIX + spec.name: spec for spec in declared()}
    existing = {s.name: s for s in Schedule.objects.filter(name__startswith=PREFIX)}
    for name, spec in wanted.items():
        fields = {"func": spec.func, "schedule_type": Schedule.MINUTES, "minutes": spec.minutes, "repeats": -1}
        row = existing.get(name)
        if row is None:
            Schedule.objects.create(name=name, **fields)
            counts["created"] += 1
        elif any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
            row.save()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    for name, row in existing.items():
        if name not in wanted:
            row.delete()
            counts["deleted"] += 1
    return counts
