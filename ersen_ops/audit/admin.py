"""Read-only audit log in the admin, and a mixin that shows an object's history on its change form."""

from __future__ import annotations

import json

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.html import format_html

from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.selectors import audit_events_for


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "actor_name", "action", "target_type", "target_repr", "request_id")
    list_filter = ("action", "actor_name", "target_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("action", "actor_name", "target_repr", "target_id", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("target_type",)
    list_per_page = 100
    readonly_fields = [f.name for f in AuditEvent._meta.fields if f.name != "data"] + ["pretty_data"]
    exclude = ("data",)

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
