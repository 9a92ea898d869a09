"""API tokens in the admin: every staff user creates and revokes their own (after re-authentication); the secret
is shown once, on the page that answers the creation. A token never does more than its user may."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from api import policy, services
from api.choices import TokenScope
from api.models import ApiToken
from ersen_ops.core.access.reauth import reauthenticated
from ersen_ops.core.errors import DomainError


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “GitHub Actions deploy”.")
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.READ],
        help_text="A token can never do more than you may: scopes only narrow what it does.",
    )
    days = forms.IntegerField(label="Valid for (days)", min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = policy.default_days(max_days=settings.OPS_API_TOKEN_MAX_DAYS)
        self.fields["days"].help_text = f"At most {settings.OPS_API_TOKEN_MAX_DAYS} days (OPS_API_TOKEN_MAX_DAYS)."


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "scope_list",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_addr",
    )
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name")
    actions = ["revoke_tokens"]
    fields = (
        "prefix",
        "name",
        "user",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "last_used_addr",
    )
    readonly_fields = fields

    # Every staff user manages their own tokens (a superuser sees everyone's, to revoke one).
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (
            obj is None or obj.user_id == request.user.pk or request.user.is_superuser
        )

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_list_display(self, request):
        shown = self.list_display
        return ("user", *shown) if request.user.is_superuser else shown

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="state")
    def state(self, obj):
        if obj.revoked_at:
            return "revoked"
        return "expired" if obj.expires_at <= timezone.now() else "active"

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset:
            try:
                if token.revoked_at is None:
                    services.token_revoke(actor=request.user, token=token)
                    revoked += 1
            except DomainError as exc:
                messages.error(request, f"{token.prefix}: {exc}")
        messages.success(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")

    def add_view(self, request, form_url="", extra_context=None):
        """Create a token for yourself. Creating one after a fresh second factor (it acts as you); its secret is
        shown on this answer only, never again (only its hash is stored)."""
        form = TokenCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                with reauthenticated(request, "Create an API token"):
                    token, raw = services.token_create(
                        actor=request.user,
                        name=form.cleaned_data["name"],
                        scopes=form.cleaned_data["scopes"],
                        days=form.cleaned_data["days"],
                    )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                response = TemplateResponse(
                    request,
                    "admin/api/token_created.html",
                    {
                        **self.admin_site.each_context(request),
                        "title": "API token created",
                        "token": token,
                        "secret": raw,
                        "opts": self.model._meta,
                    },
                )
                response["Cache-Control"] = "no-store"
                return response
        context = {
            **self.admin_site.each_context(request),
            "title": "New API token",
            "form": form,
            "opts": self.model._meta,
            "max_days": settings.OPS_API_TOKEN_MAX_DAYS,
        }
        return TemplateResponse(request, "admin/api/token_add.html", context)
