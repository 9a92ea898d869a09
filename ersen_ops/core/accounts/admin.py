"""Lockouts in the admin, for superusers only: who is locked until when, and lifting one (audited)."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils import timezone
from django.utils.html import format_html

from ersen_ops.core.accounts.choices import LockoutScope
from ersen_ops.core.accounts.selectors import lockouts
from ersen_ops.core.accounts.services import lockout_lift
from ersen_ops.core.display import local_and_pacific
from ersen_ops.core.errors import DomainError


class _LockoutChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # One query for the lockouts of every row on the page (not one per row).
        rows = list(self.result_list)
        found = lockouts(
            now=timezone.now(),
            usernames=[r.username for r in rows if r.username],
            addresses=[r.ip_address for r in rows if r.ip_address],
        )
        for row in rows:
            row.username_locked_until = found.usernames.get(row.username or "")
            row.address_locked_until = found.addresses.get(row.ip_address or "")


class AccessAttemptAdmin(admin.ModelAdmin):
    list_display = ("username", "ip_address", "failures_since_start", "last_failure", "lockout", "user_agent")
    list_filter = ("attempt_time",)
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time",)
    list_per_page = 50
    fields = ("username", "ip_address", "user_agent", "failures_since_start", "attempt_time", "path_info")
    readonly_fields = fields
    actions = ("lift_username_lockouts", "lift_address_lockouts")

    def get_changelist(self, request, **kwargs):
        return _LockoutChangeList

    @admin.display(description="last failure", ordering="attempt_time")
    def last_failure(self, obj):
        return local_and_pacific(obj.attempt_time)

    @admin.display(description="locked")
    def lockout(self, obj):
        parts = []
        for label, until in (
            ("username", getattr(obj, "username_locked_until", None)),
            ("address", getattr(obj, "address_locked_until", None)),
        ):
            if until:
                parts.append(format_html("{} until {}", label, local_and_pacific(until)))
        return format_html("<br>".join(["{}"] * len(parts)), *parts) if parts else "—"

    def _lift(self, request, queryset, scope: LockoutScope):
        values = sorted({getattr(row, scope.value) for row in queryset if getattr(row, scope.value)})
        lifted = []
        for value in values:
            try:
                lockout_lift(actor=request.user, scope=scope, value=value, request=request)
                lifted.append(value)
            except DomainError as exc:
                messages.warning(request, str(exc))
        if lifted:
            messages.success(
                request, f"Lifted the lockout of {scope.label} {', '.join(lifted)}: their failed logins are forgotten."
            )

    @admin.action(description="Lift the lockout of the selected usernames (audited)")
    def lift_username_lockouts(self, request, queryset):
        self._lift(request, queryset, LockoutScope.USERNAME)

    @admin.action(description="Lift the lockout of the selected addresses (audited)")
    def lift_address_lockouts(self, request, queryset):
        self._lift(request, queryset, LockoutScope.ADDRESS)

    # Superusers only; nobody adds, edits or deletes attempts by hand (lifting is the audited way).
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Actions need no change/delete permission here: lifting is its own, superuser-only, action.
        return super().get_actions(request) if request.user.is_superuser else {}


admin.site.register(AccessAttempt, AccessAttemptAdmin)
