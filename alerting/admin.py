"""Alert intake in the admin: integrations (token shown once on creation and rotation, revoke / re-enable), the rules
that map labels to components and a level, and read-only lists of groups and received alerts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from alerting import services
from alerting.models import AlertGroup, AlertIntegration, AlertRule, ReceivedAlert
from ersen_ops.core.errors import DomainError


def reveal_tokens(model_admin, request, revealed, title: str) -> TemplateResponse:
    """The tokens, once, in the response body (never in a message cookie, never stored for display)."""
    response = TemplateResponse(
        request,
        "alerting/admin/integration_token.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "revealed": revealed,
            "base_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(AlertIntegration)
class AlertIntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "token_prefix", "active", "default_level", "quiet_minutes", "last_used_at")
    list_filter = ("source", "active")
    fields = ("name", "source", "default_level", "quiet_minutes")
    readonly_fields = (
        "token_prefix",
        "active",
        "created_by",
        "created_at",
        "token_rotated_at",
        "last_used_at",
        "last_used_from",
    )
    actions = ["rotate_token", "revoke", "enable"]

    def get_fields(self, request, obj=None):
        return (
            self.fields if obj is None else ("name", "source", "default_level", "quiet_minutes", *self.readonly_fields)
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("source", *self.readonly_fields)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.integration_edit(
                    actor=request.user,
                    integration=obj,
                    name=obj.name,
                    default_level=obj.default_level,
                    quiet_minutes=obj.quiet_minutes,
                )
                return
            created, token = services.integration_create(
                actor=request.user,
                name=obj.name,
                source=obj.source,
                default_level=obj.default_level,
                quiet_minutes=obj.quiet_minutes,
            )
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = created.pk
        obj.token_prefix = created.token_prefix
        request._alerting_revealed = [(created, token)]

    def log_addition(self, request, obj, message):
        if obj.pk is not None:  # a refused add created nothing (its reason is in the messages)
            super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        revealed = getattr(request, "_alerting_revealed", None)
        if not revealed:
            return HttpResponseRedirect(reverse("admin:alerting_alertintegration_changelist"))
        return reveal_tokens(self, request, revealed, f"Alert integration added: {obj.name}")

    def has_manage_token_permission(self, request):
        return request.user.has_perm("alerting.manage_token_alertintegration")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: received alerts keep pointing at it

    @admin.action(description="Rotate the token (the old one stops working)", permissions=["manage_token"])
    def rotate_token(self, request, queryset):
        revealed = []
        for integration in queryset:
            try:
                revealed.append(
                    (integration, services.integration_rotate_token(actor=request.user, integration=integration))
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if revealed:
            return reveal_tokens(self, request, revealed, "New alert integration tokens")
        return None

    @admin.action(description="Revoke (refuse its token)", permissions=["manage_token"])
    def revoke(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Re-enable", permissions=["manage_token"])
    def enable(self, request, queryset):
        self._set_active(request, queryset, True)

    def _set_active(self, request, queryset, active):
        for integration in queryset:
            try:
                services.integration_set_active(actor=request.user, integration=integration, active=active)
                self.message_user(request, f"“{integration}” is {'active' if active else 'revoked'}.")
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "integration", "matchers", "level", "impact", "enabled")
    list_filter = ("enabled", "level", "integration")
    list_editable = ()
    filter_horizontal = ("components",)
    fields = ("name", "integration", "position", "matchers", "components", "impact", "level", "enabled")

    def save_model(self, request, obj, form, change):
        self._before = services.rule_snapshot(AlertRule.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.rule_record_change(actor=request.user, rule=form.instance, before=self._before)

    def delete_model(self, request, obj):
        services.rule_delete(actor=request.user, rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            services.rule_delete(actor=request.user, rule=rule)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AlertGroup)
class AlertGroupAdmin(ReadOnlyAdmin):
    list_display = ("group_key", "integration", "status", "incident", "opened_at", "quiet_since", "closed_at")
    list_filter = ("status", "integration")
    list_select_related = ("integration", "incident")


@admin.register(ReceivedAlert)
class ReceivedAlertAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "alertname", "status", "outcome", "integration", "incident", "window", "fingerprint")
    list_filter = ("outcome", "status", "integration")
    list_select_related = ("integration", "incident", "window")
    search_fields = ("alertname", "fingerprint", "group_key")
