"""Components in the admin: every save and delete goes through the audited services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.display import status_badge
from ersen_ops.status import selectors, services
from ersen_ops.status.choices import COMPONENT_STATUS_COLOURS, ComponentStatus
from ersen_ops.status.models import Component


class ComponentForm(forms.ModelForm):
    class Meta:
        model = Component
        fields = services.COMPONENT_FIELDS

    def clean(self):
        cleaned = super().clean()
        probe = Component(
            pk=self.instance.pk,
            name=cleaned.get("name") or self.instance.name,
            is_group=bool(cleaned.get("is_group")),
            group=cleaned.get("group"),
        )
        for problem in services.component_problems(probe):
            self.add_error(None, problem)
        return cleaned


@admin.register(Component)
class ComponentAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = ComponentForm
    list_display = ("name", "manual_status", "public_status", "group", "position", "public", "public_id")
    list_filter = ("status", "public", "is_group")
    search_fields = ("name", "description", "public_id")
    list_select_related = ("group",)
    ordering = ("position", "name")
    readonly_fields = ("public_id", "created_at", "updated_at", "audit_history")
    fieldsets = (
        (None, {"fields": ("name", "description", "status", "public", "position")}),
        ("Grouping", {"fields": ("is_group", "group")}),
        ("Statuspage display options", {"fields": ("showcase", "only_show_if_degraded", "start_date")}),
        ("Identity", {"fields": ("public_id", "created_at", "updated_at")}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )

    def get_urls(self):
        from django.urls import path

        from ersen_ops.status.admin_views import uptime_report_view

        urls = [path("uptime/", self.admin_site.admin_view(uptime_report_view(self)), name="status_component_uptime")]
        return urls + super().get_urls()

    def get_changelist_instance(self, request):
        """Each row also shows what the public sees now (incidents and maintenance may make it worse than the
        manual status): the rollup is computed once for the page (constant queries)."""
        changelist = super().get_changelist_instance(request)
        public = {c.pk: c.status for c in selectors.load_components()}
        for obj in changelist.result_list:
            obj._public_status = public.get(obj.pk)
        return changelist

    @admin.display(description="manual status", ordering="status")
    def manual_status(self, obj):
        return status_badge(obj.status, obj.get_status_display(), COMPONENT_STATUS_COLOURS)

    @admin.display(description="public status now")
    def public_status(self, obj):
        status = getattr(obj, "_public_status", None)
        if status is None:
            return "hidden" if not obj.public else "—"
        return status_badge(status, ComponentStatus(status).label, COMPONENT_STATUS_COLOURS)

    def save_model(self, request, obj, form, change):
        before = services.component_state(Component.objects.get(pk=obj.pk)) if change else None
        services.component_save(actor=request.user, component=obj, before=before)

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        services.component_delete(actor=request.user, component=obj)

    def delete_queryset(self, request, queryset):
        for component in queryset:
            services.component_delete(actor=request.user, component=component)
