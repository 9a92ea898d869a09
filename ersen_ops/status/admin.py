from django.contrib import admin

from ersen_ops.status.models import Component


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "group", "position", "public", "public_id")
    list_filter = ("status", "public", "is_group")
    search_fields = ("name", "description", "public_id")
    list_select_related = ("group",)
    ordering = ("position", "name")
