"""Admin for site-wide settings: the phase change goes through the audited service."""

import contextlib

from django.contrib import admin, messages

from ersen_ops.core.access.reauth import reauthenticated
from ersen_ops.core.errors import DomainError
from ersen_ops.core.models import SiteSettings
from ersen_ops.core.services import site_settings_set_phase


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "phase", "updated_at")
    fields = ("phase", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        phase = form.cleaned_data["phase"]
        # The phase decides whether the maintenance protocol is enforced: a fresh second factor first.
        guard = reauthenticated(request, f"Change the phase to {phase}") if "phase" in form.changed_data else None
        try:
            with guard or contextlib.nullcontext():
                site_settings_set_phase(actor=request.user, phase=phase)
        except DomainError as exc:
            messages.error(request, str(exc))


# Lockouts (and, below them, the audited user admin) live in ersen_ops.core.accounts.
from ersen_ops.core.accounts import admin as _accounts_admin  # noqa: E402,F401
