"""Admin lists that stay fast at a million rows (the audit log, deliveries, executions, django-q's task lists).

What a stock ModelAdmin does on every list page, and what this mixin does instead:
- `COUNT(*)` of the whole filtered table for the paginator, and again unfiltered for "(N total)": here the count is
  exact up to `EXACT_COUNT_LIMIT` rows (a count bounded by `LIMIT`, so it never reads more than that many), and
  beyond it PostgreSQL's own estimate — the table's `reltuples` when unfiltered, the planner's row estimate of the
  filtered query otherwise — shown as "about N". No "(N total)" count.
- `SELECT DISTINCT` over the whole table for a filter on a free-text column (the sidebar's list of values): here
  `RecentValuesFilter` lists the values of the newest `RECENT_ROWS` rows (an index scan of the default order).
- `date_hierarchy` (a `DISTINCT date_trunc(...)` over the table): not used; the date filter does the same job.
- page N: `OFFSET (N-1) × page size`, which reads and throws away every row before the page: here, in the default
  order, pages are links by **keyset** instead ("Older ›" is `?after=<last row's id>`, "‹ Newer" `?before=<first
  row's id>`): a row comparison on the order's columns, which the order's index answers from the page's edge
  whatever the depth. Another column's order (a click on a header) keeps numbered pages.
- search: `search_expression` (SQL over the row's searchable columns) matched with `LIKE` against a trigram index
  on exactly that expression (the model's migration creates it on PostgreSQL), instead of one `UPPER(..) LIKE`
  per field, which reads the whole table when the term is rare.
"""

from __future__ import annotations

import json
from functools import cached_property

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ALL_VAR, ORDER_VAR, PAGE_VAR
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


AFTER_VAR, BEFORE_VAR = "after", "before"


def keyset_order(model, ordering) -> list[tuple[str, str, bool]] | None:
    """The (field, column, descending) triples of `ordering` when keyset pages can follow it: plain field names, one
    direction, ending with the primary key (so a row's position is unique). None otherwise."""
    pairs = []
    for item in ordering:
        if not isinstance(item, str) or "__" in item or item.lstrip("-") == "?":
            return None
        name = item.lstrip("-")
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        pairs.append((field.attname, field.column, item.startswith("-")))
    if not pairs or pairs[-1][1] != model._meta.pk.column or len({desc for _, _, desc in pairs}) != 1:
        return None
    return pairs


def _cursor(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class KeysetChangeListMixin:
    """A ChangeList whose default order pages by keyset (see the module docstring). Sets `keyset` (True when it
    applies), `keyset_newest_url`, `keyset_newer_url` and `keyset_older_url` for templates/admin/pagination.html."""

    keyset = False
    keyset_newest_url = keyset_newer_url = keyset_older_url = ""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for name in (AFTER_VAR, BEFORE_VAR):
            lookup_params.pop(name, None)
        return lookup_params

    def _keyset_pairs(self, request):
        if ORDER_VAR in self.params or self.show_all:
            return None
        ordering = self.model_admin.get_ordering(request) or self._get_default_ordering()
        return keyset_order(self.model, list(ordering))

    def get_results(self, request):
        pairs = self._keyset_pairs(request)
        after, before = _cursor(request.GET.get(AFTER_VAR)), _cursor(request.GET.get(BEFORE_VAR))
        if pairs is None or (PAGE_VAR in request.GET and not (after or before)):
            return super().get_results(request)  # another order, or a numbered page asked for explicitly
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        queryset = self.queryset
        anchor = before or after
        if anchor:
            queryset = queryset.filter(self._beyond(pairs, anchor, towards_older=not before))
            if before:
                queryset = queryset.reverse()
        rows = list(queryset[: self.list_per_page + 1])
        more = len(rows) > self.list_per_page
        rows = rows[: self.list_per_page]
        if before:
            rows.reverse()
        pk = self.model._meta.pk.attname
        drop = [PAGE_VAR, AFTER_VAR, BEFORE_VAR, ALL_VAR]
        has_newer = bool(after) or (bool(before) and more)
        has_older = bool(before) or more
        if anchor:
            self.keyset_newest_url = self.get_query_string(remove=drop)
        if has_newer and rows:
            self.keyset_newer_url = self.get_query_string({BEFORE_VAR: getattr(rows[0], pk)}, remove=drop)
        if has_older and rows:
            self.keyset_older_url = self.get_query_string({AFTER_VAR: getattr(rows[-1], pk)}, remove=drop)
        self.keyset = True
        self.result_count = paginator.count
        self.show_full_result_count = False
        self.full_result_count = None
        self.show_admin_actions = True
        self.result_list = rows
        self.can_show_all = False
        self.multi_page = bool(anchor) or more
        self.paginator = paginator

    def _beyond(self, pairs, anchor: int, *, towards_older: bool):
        """Rows past the anchor row in the list's order (`towards_older`) or before it, as one row comparison."""
        table = self.model._meta.db_table
        columns = [column for _, column, _ in pairs]
        if len(columns) == 1:
            values = [anchor]
        else:
            found = self.model._default_manager.filter(pk=anchor).values_list(*[name for name, _, _ in pairs])
            values = next(iter(found), None)
            if values is None:
                raise IncorrectLookupParameters(f"No row {anchor} to page from.")
            values = list(values)
        descending = pairs[0][2]
        operator = "<" if descending == towards_older else ">"
        quoted = ", ".join(f'"{table}"."{column}"' for column in columns)
        placeholders = ", ".join(["%s"] * len(columns))
        return RawSQL(f"({quoted}) {operator} ({placeholders})", values, output_field=BooleanField())


class LargeListAdminMixin:
    """See the module docstring. `search_expression`: SQL over the table's columns, upper-cased, that a trigram
    index of the same text covers; None keeps Django's per-field search (small tables)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    date_hierarchy = None
    search_expression: str | None = None
    exact_search_fields: tuple[str, ...] = ()  # "=id"-style exact matches kept beside the expression

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)
        return type(f"Keyset{base.__name__}", (KeysetChangeListMixin, base), {})

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
