"""Admin lists that stay fast at a million rows (the audit log, deliveries, executions, django-q's task lists).

What a stock ModelAdmin does on every list page, and what this mixin does instead:
- `COUNT(*)` of the whole filtered table for the paginator, and again unfiltered for "(N total)": here the count is
  exact up to `EXACT_COUNT_LIMIT` rows (a count bounded by `LIMIT`, so it never reads more than that many), and
  beyond it PostgreSQL's own estimate — the table's `reltuples` when unfiltered, the planner's row estimate of the
  filtered query otherwise — shown as "about N". No "(N total)" count.
- `SELECT DISTINCT` over the whole table for a filter on a free-text column (the sidebar's list of values): here
  `RecentValuesFilter` lists the values of the newest `RECENT_ROWS` rows (an index scan of the default order).
- `date_hierarchy` (a `DISTINCT date_trunc(...)` over the table): not used; the date filter does the same job.
- search: `search_expression` (SQL over the row's searchable columns) matched with `LIKE` against a trigram index
  on exactly that expression (the model's migration creates it on PostgreSQL), instead of one `UPPER(..) LIKE`
  per field, which reads the whole table when the term is rare.
"""

from __future__ import annotations

import json
from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

EXACT_COUNT_LIMIT = 10_000
RECENT_ROWS = 5_000


def _estimate(queryset) -> int:
    """PostgreSQL's estimate of the rows `queryset` returns (the table's reltuples when it is not filtered)."""
    db = queryset.db
    connection = connections[db]
    with connection.cursor() as cursor:
        if not queryset.query.where:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
            )
            row = cursor.fetchone()
            if row and row[0] > 0:
                return int(row[0])
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Exact up to EXACT_COUNT_LIMIT, PostgreSQL's estimate beyond (`estimated` tells which)."""

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not hasattr(queryset, "query") or connections[queryset.db].vendor != "postgresql":
            return super().count
        estimate = _estimate(queryset)
        if estimate <= 10 * EXACT_COUNT_LIMIT:  # plausibly small: count it, reading at most the limit's rows
            bounded = queryset.order_by().values("pk")[: EXACT_COUNT_LIMIT + 1].count()
            if bounded <= EXACT_COUNT_LIMIT:
                return bounded
        self.estimated = True
        return max(EXACT_COUNT_LIMIT + 1, estimate)


def RecentValuesFilter(field_name: str, title: str | None = None, rows: int = RECENT_ROWS):  # noqa: N802 - a class factory
    """A sidebar filter on a free-text column listing the values seen in the newest `rows` rows."""

    class Filter(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            manager = model_admin.model._default_manager
            newest = manager.order_by("-pk").values("pk")[:rows]  # one index scan, deduplicated in the database
            values = sorted(
                v for v in manager.filter(pk__in=newest).order_by().values_list(field_name, flat=True).distinct() if v
            )
            return [(value, value) for value in values]

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field_name: self.value()})
            return queryset

    Filter.title = title or f"{field_name.replace('_', ' ')} (recent)"
    Filter.__name__ = f"Recent{field_name.title().replace('_', '')}Filter"
    return Filter


class LargeListAdminMixin:
    """See the module docstring. `search_expression`: SQL over the table's columns, upper-cased, that a trigram
    index of the same text covers; None keeps Django's per-field search (small tables)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    date_hierarchy = None
    search_expression: str | None = None
    exact_search_fields: tuple[str, ...] = ()  # "=id"-style exact matches kept beside the expression

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term or self.search_expression is None or connections[queryset.db].vendor != "postgresql":
            return super().get_search_results(request, queryset, search_term)
        pattern = "%" + term.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = RawSQL(f"({self.search_expression}) LIKE %s", [pattern], output_field=BooleanField())
        result = queryset.filter(matches)
        for field in self.exact_search_fields:
            if field in ("pk", "id") and not term.isdigit():
                continue
            result = result | queryset.filter(**{field: term})
        return result, False


def adapt_queue_admins(site) -> None:
    """django-q's own lists (successful and failed tasks, schedules, the ORM queue) the same way: estimated counts
    and recent-values filters instead of a COUNT(*) and a SELECT DISTINCT over the table per page. Called from the
    URL map (the composition root), after every app's admin module has registered."""
    from django_q.models import Failure, OrmQ, Schedule, Success

    for model in (Success, Failure, Schedule, OrmQ):
        current = site._registry.get(model)
        if current is None:
            continue
        filters = tuple(
            RecentValuesFilter(name) if name in ("group", "cluster", "key") else name
            for name in getattr(current, "list_filter", ())
        )
        adapted = type(
            type(current).__name__, (LargeListAdminMixin, type(current)), {"list_filter": filters, "__module__": __name__}
        )
        site.unregister(model)
        site.register(model, adapted)
