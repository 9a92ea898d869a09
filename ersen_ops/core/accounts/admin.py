"""Lockouts in the admin (superusers only: who is locked until when, lifting one), and the user and group admins
whose changes of access go through the audited services."""

from __future__ import annotations

import contextlib

from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.html import format_html

from ersen_ops.core.access.reauth import reauthenticated
from ersen_ops.core.access.sessions import sessions_end_all_for_user
from ersen_ops.core.accounts.choices import ACCESS_FLAGS, LockoutScope
from ersen_ops.core.accounts.selectors import lockouts
from ersen_ops.core.accounts.services import (
    group_change_preview,
    group_delete,
    group_save,
    lockout_lift,
    user_access_preview,
    user_access_problem,
    user_access_set,
    user_created,
)
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


# --- users and roles: every change of access goes through the audited services -----------------------------

User = get_user_model()
_PENDING = "_ops_access_wanted"


class AuditedUserAdmin(UserAdmin):
    """Django's user admin, except that groups, direct permissions and the active / staff / superuser flags are
    changed by `user_access_set` (audited, before/after; refused for the last active superuser), never by the form
    saving them itself."""

    actions = ["end_all_sessions"]

    @admin.action(description="End all sessions of the selected users")
    def end_all_sessions(self, request, queryset):
        if not request.user.is_superuser:
            messages.error(request, "Only a superuser can end other people's sessions.")
            return
        ended = sum(sessions_end_all_for_user(actor=request.user, user=u, request=request) for u in queryset)
        messages.success(request, f"Ended {ended} session{'s' if ended != 1 else ''} (audited).")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form

        class AccessCheckedForm(form):
            def clean(self):
                cleaned = super().clean()
                # The instance still holds the stored values here (the form copies its data in afterwards).
                problem = user_access_problem(
                    actor=request.user,
                    user=self.instance,
                    groups=cleaned.get("groups"),
                    permissions=cleaned.get("user_permissions"),
                    **{flag: cleaned.get(flag) for flag in ACCESS_FLAGS if flag in cleaned},
                )
                if problem:
                    raise forms.ValidationError(problem)
                return cleaned

        return AccessCheckedForm

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        stored = User.objects.get(pk=obj.pk)
        wanted = {flag: getattr(obj, flag) for flag in ACCESS_FLAGS if flag in form.cleaned_data}
        for flag in ACCESS_FLAGS:  # everything else is saved as usual; the access flags by the service
            setattr(obj, flag, getattr(stored, flag))
        super().save_model(request, obj, form, change)
        setattr(request, _PENDING, wanted)

    def save_related(self, request, form, formsets, change):
        user = form.instance
        if not change:
            super().save_related(request, form, formsets, change)
            user_created(actor=request.user, user=user, request=request)
            return
        wanted_groups = form.cleaned_data.pop("groups", None)
        wanted_permissions = form.cleaned_data.pop("user_permissions", None)
        super().save_related(request, form, formsets, change)  # other relations (none by default)
        wanted = {"groups": wanted_groups, "permissions": wanted_permissions, **getattr(request, _PENDING, {})}
        # Changing what someone may do needs a fresh second factor (or password, for someone without one): a stale
        # session is sent to the prompt (the whole save rolls back) and the request replayed after it.
        guard = reauthenticated(request, f"Change the roles and access of {user.get_username()}")
        with guard if user_access_preview(user=user, **wanted) else contextlib.nullcontext():
            changed = user_access_set(actor=request.user, user=user, request=request, **wanted)
        if changed:
            messages.info(request, f"Access of {user.get_username()} changed (audited): {', '.join(changed['after'])}.")


class AuditedGroupAdmin(GroupAdmin):
    """Roles: name and permissions saved (and deleted) through the audited services."""

    def save_model(self, request, obj, form, change):
        pass  # saved with its permissions in save_related, in one audited step

    def save_related(self, request, form, formsets, change):
        name, permissions = form.cleaned_data["name"], list(form.cleaned_data.get("permissions") or [])
        changes = group_change_preview(group=form.instance, name=name, permissions=permissions)
        guard = reauthenticated(request, f"Change the role {name}") if changes and change else contextlib.nullcontext()
        with guard:
            form.instance = group_save(
                actor=request.user, group=form.instance, name=name, permissions=permissions, request=request
            )

    def delete_model(self, request, obj):
        with reauthenticated(request, f"Delete the role {obj.name}"):
            group_delete(actor=request.user, group=obj, request=request)

    def delete_queryset(self, request, queryset):
        with reauthenticated(request, f"Delete the roles {', '.join(g.name for g in queryset)}"):
            for group in queryset:
                group_delete(actor=request.user, group=group, request=request)


# Importing django.contrib.auth.admin (above) registered Django's own; the admin's autodiscovery will not again.
for _model, _admin in ((User, AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin)
