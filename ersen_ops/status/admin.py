from django.contrib import admin

from ersen_ops.status.models import Component


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "group", "position", "public", "public_id")
    list_filter = ("status", "public", "is_group")
    search_fields = ("name", "description", "public_id")
    list_select_related = ("group",)
    ordering = ("position", "name")


from ersen_ops.status.models import StatusPost  # noqa: E402


@admin.register(StatusPost)
class StatusPostAdmin(admin.ModelAdmin):
    """Posts on the public status page. Read-only: they are published through notify() (status page channel)."""

    list_display = ("public_id", "created_at", "event", "subject", "related_type", "related_id", "delivery")
    list_filter = ("event", ("created_at", admin.DateFieldListFilter))
    search_fields = ("public_id", "subject", "body", "related_id")
    list_select_related = ("related_type", "delivery")
    readonly_fields = ("public_id", "created_at", "event", "subject", "body", "related_type", "related_id", "delivery")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
