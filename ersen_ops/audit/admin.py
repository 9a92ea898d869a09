"""Read-only audit log in the admin, and a mixin that shows an object's history on its change form."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from ersen_ops.audit.choices import ActorKind
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.selectors import actor_kind_q, audit_events_for
from ersen_ops.core.admin_lists import LargeListAdminMixin, RecentValuesFilter
from ersen_ops.core.display import in_utc, local_and_pacific


class ActorKindFilter(admin.SimpleListFilter):
    title = "actor kind"
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return ActorKind.choices

    def queryset(self, request, queryset):
        if self.value() in ActorKind.values:
            return queryset.filter(actor_kind_q(self.value()))
        return queryset


# What the search matches on PostgreSQL, one trigram index of exactly this text (migration audit 0005).
AUDIT_SEARCH_SQL = (
    "upper(action || ' ' || actor_name || ' ' || target_repr || ' ' || target_id || ' ' || request_id)"
)


@admin.register(AuditEvent)
class AuditEventAdmin(LargeListAdminMixin, admin.ModelAdmin):
    list_display = ("id", "when", "actor_name", "action", "target", "request_id")
    list_filter = (
        ActorKindFilter,
        RecentValuesFilter("action"),
        RecentValuesFilter("actor_name", "actor (recent)"),
        "target_type",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("action", "actor_name", "target_repr", "target_id", "request_id")
    search_help_text = "Words of the action, actor, target or request id."
    search_expression = AUDIT_SEARCH_SQL
    exact_search_fields = ("id",)
    list_select_related = ("target_type",)
    list_per_page = 100
    readonly_fields = [f.name for f in AuditEvent._meta.fields if f.name != "data"] + ["pretty_data"]
    exclude = ("data",)

    @admin.display(description="when", ordering="created_at")
    def when(self, obj):
        """To the second in UTC (the log's zone), with Pacific and the operator's time beneath."""
        return format_html(
            '<span style="white-space:nowrap">{}</span><br><small>{}</small>',
            in_utc(obj.created_at, "Y-m-d H:i:s \\U\\T\\C"),
            local_and_pacific(obj.created_at),
        )

    @admin.display(description="target", ordering="target_type")
    def target(self, obj):
        """'incident: P1 Checkout down', linked to its page (content types are cached: no query per row)."""
        if not obj.target_type_id:
            return obj.target_repr or "—"
        ct = ContentType.objects.get_for_id(obj.target_type_id)
        label = format_html("<small>{}:</small> {}", ct.name, obj.target_repr or obj.target_id)
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[obj.target_id])
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="data (before / after, details)")
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditHistoryMixin:
    """Adds a read-only `audit_history` field listing the object's audit events (newest first)."""

    @admin.display(description="Audit history")
    def audit_history(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        events = list(audit_events_for(obj))
        return render_to_string("audit/history.html", {"events": events})
