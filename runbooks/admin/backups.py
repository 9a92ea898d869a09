"""The backup inventory: a read-only record (written by the worker from runs' verified results).

"Kept because" is what the retention policy (`runbooks.policy.backup_retention`, with the settings' counts) says
today of each live backup — computed once per page for the hosts on it, never re-decided here.
"""

from __future__ import annotations

import threading

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_readonly import RecordAdminMixin
from ersen_ops.core.display import both_zones
from runbooks import selectors
from runbooks.models import Backup, BackupCopy

# The policy's verdict per host for the page being drawn (per thread: one admin instance serves every request).
_page = threading.local()


def _execution_link(execution_id):
    if not execution_id:
        return "—"
    return format_html(
        '<a href="{}">#{}</a>', reverse("admin:runbooks_runbookexecution_change", args=[execution_id]), execution_id
    )


class BackupCopyInline(admin.TabularInline):
    model = BackupCopy
    extra = 0
    can_delete = False
    fields = ("destination", "path", "sha256", "verified_at", "execution_link")
    readonly_fields = fields

    @admin.display(description="made by")
    def execution_link(self, obj):
        return _execution_link(obj.execution_id)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OffHostFilter(admin.SimpleListFilter):
    title = "off-host copy"
    parameter_name = "offhost"

    def lookups(self, request, model_admin):
        return (("yes", "Has a verified off-host copy"), ("no", "No off-host copy"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(copies__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(copies__isnull=True)
        return queryset


class PrunedFilter(admin.SimpleListFilter):
    title = "file"
    parameter_name = "pruned"

    def lookups(self, request, model_admin):
        return (("live", "On the host (not pruned)"), ("pruned", "Pruned"))

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(pruned_at__isnull=True)
        if self.value() == "pruned":
            return queryset.filter(pruned_at__isnull=False)
        return queryset


def _rendered(response):
    """Render now, while this page's retention cache is set (a TemplateResponse renders later otherwise)."""
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return response


@admin.register(Backup)
class BackupAdmin(RecordAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "file_name",
        "host",
        "taken_column",
        "size_column",
        "verified",
        "offhost_column",
        "restore_column",
        "kept_because",
    )
    list_filter = (PrunedFilter, OffHostFilter, "verified", "host")
    search_fields = ("path", "sha256")
    list_select_related = ("host",)
    date_hierarchy = "taken_at"
    inlines = [BackupCopyInline]
    fields = (
        "host",
        "path",
        "size",
        "sha256",
        "taken_at",
        "made_by",
        "verified",
        "restore_verified_at",
        "restore_link",
        "pruned_at",
        "pruned_link",
        "kept_because",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(has_copy=Exists(BackupCopy.objects.filter(backup=OuterRef("pk"))))

    def _retention(self, obj):
        """The policy's verdict for the hosts on this page (computed once per host per page)."""
        cache = getattr(_page, "retention", None)
        if cache is None:
            cache = _page.retention = {}
        if obj.host_id not in cache:
            cache.update(selectors.backup_retention_now(host_ids=[obj.host_id], now=timezone.now()))
            cache.setdefault(obj.host_id, None)
        return cache[obj.host_id]

    @admin.display(description="taken", ordering="taken_at")
    def taken_column(self, obj):
        return both_zones(obj.taken_at)

    @admin.display(description="size", ordering="size")
    def size_column(self, obj):
        size = float(obj.size)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if size < 1024 or unit == "GiB":
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{obj.size} B"

    @admin.display(description="off-host copy", boolean=True)
    def offhost_column(self, obj):
        return bool(getattr(obj, "has_copy", False))

    @admin.display(description="restore verified")
    def restore_column(self, obj):
        return both_zones(obj.restore_verified_at) if obj.restore_verified_at else "—"

    @admin.display(description="kept because")
    def kept_because(self, obj):
        if obj.pruned_at:
            return format_html("pruned {} by {}", both_zones(obj.pruned_at), _execution_link(obj.pruned_by_id))
        retention = self._retention(obj)
        if retention is None:
            return "—"
        reasons = retention.reasons(obj.pk)
        if not reasons:
            return format_html("<strong>{}</strong>", "not kept: the next prune_backups deletes it")
        return format_html_join(mark_safe("<br>"), "{}", ((r,) for r in reasons))  # a constant separator

    @admin.display(description="made by")
    def made_by(self, obj):
        return _execution_link(obj.execution_id)

    @admin.display(description="restore verified by")
    def restore_link(self, obj):
        return _execution_link(obj.restore_execution_id)

    @admin.display(description="pruned by")
    def pruned_link(self, obj):
        return _execution_link(obj.pruned_by_id)

    def changelist_view(self, request, extra_context=None):
        _page.retention = {}
        try:
            return _rendered(super().changelist_view(request, extra_context))
        finally:
            _page.retention = None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        _page.retention = {}
        try:
            return _rendered(super().change_view(request, object_id, form_url, extra_context))
        finally:
            _page.retention = None
