"""Admins of the configuration: freezes and checklist templates (edits audited through the services)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.display import both_zones
from maintenance import policy, services
from maintenance.models import ChecklistTemplate, ChecklistTemplateItem, FreezePeriod


class FreezeWhenFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("now", "In force now"), ("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(start__lte=now, end__gt=now)
        if self.value() == "upcoming":
            return queryset.filter(start__gt=now)
        if self.value() == "past":
            return queryset.filter(end__lte=now)
        return queryset


@admin.register(FreezePeriod)
class FreezePeriodAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "start_column", "end_column", "reason")
    list_filter = (FreezeWhenFilter,)
    search_fields = ("name", "reason")
    date_hierarchy = "start"
    fields = ("name", "start", "end", "reason", "audit_history")
    readonly_fields = ("audit_history",)
    ordering = ("-start",)

    @admin.display(description="Start (Pacific / UTC)", ordering="start")
    def start_column(self, obj):
        return both_zones(obj.start)

    @admin.display(description="End (Pacific / UTC)", ordering="end")
    def end_column(self, obj):
        return both_zones(obj.end)

    def save_model(self, request, obj, form, change):
        inside = services.freeze_save(actor=request.user, freeze=obj)
        if inside:
            messages.warning(
                request,
                f"{len(inside)} scheduled window(s) already fall inside “{obj}”: "
                + "; ".join(f"{w} ({policy.fmt_local(w.planned_start)})" for w in inside)
                + ". Reschedule or cancel them.",
            )

    def delete_model(self, request, obj):
        services.freeze_delete(actor=request.user, freeze=obj)

    def delete_queryset(self, request, queryset):
        for freeze in queryset:
            services.freeze_delete(actor=request.user, freeze=freeze)


class ChecklistTemplateItemInline(admin.TabularInline):
    model = ChecklistTemplateItem
    extra = 0
    fields = ("order", "text", "key", "required_approvals")


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("title", "phase", "item_count")
    list_filter = ("phase",)
    search_fields = ("title", "items__text")
    fields = ("phase", "title", "audit_history")
    readonly_fields = ("audit_history",)
    inlines = [ChecklistTemplateItemInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(items_count=Count("items"))

    @admin.display(description="Items")
    def item_count(self, obj):
        return obj.items_count

    def has_delete_permission(self, request, obj=None):
        return False  # every phase keeps a checklist

    def save_model(self, request, obj, form, change):
        # Snapshot before the change; the audit event is written once the inline items are saved too.
        request._checklist_template_before = services.checklist_template_snapshot(
            ChecklistTemplate.objects.filter(pk=obj.pk).first() if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.checklist_template_record_change(
            actor=request.user, template=form.instance, before=getattr(request, "_checklist_template_before", {})
        )
