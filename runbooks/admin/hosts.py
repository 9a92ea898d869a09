"""The host admin: hosts, and "Fetch and pin host key" (shows the key first, pins what the operator confirmed)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import both_zones
from ersen_ops.core.errors import DomainError
from ersen_ops.core.people import person_link
from runbooks import services
from runbooks.models import Host


class HostForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = (
            "name",
            "hostname",
            "port",
            "ssh_user",
            "roles",
            "enabled",
            "position",
            "components",
            "parameter_defaults",
            "notes",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["position"].required = False  # blank: the default (100)

    def clean_position(self):
        value = self.cleaned_data.get("position")
        return Host._meta.get_field("position").default if value is None else value

    def clean_parameter_defaults(self):
        value = self.cleaned_data.get("parameter_defaults") or {}
        try:
            services.host_validate_parameter_defaults(value)
        except DomainError as exc:
            raise ValidationError(str(exc)) from None
        return value


class PinForm(forms.Form):
    fingerprint = forms.CharField(
        label="Fingerprint the host presents now",
        widget=forms.TextInput(attrs={"readonly": "readonly", "size": 70}),
    )
    compared = forms.BooleanField(
        label="I compared it with the host's own fingerprint",
        help_text="On the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
    )


def _pin_initial(request, host):
    try:
        host._fetched_key = services.host_fetch_key(host=host)
        host._fetch_error = ""
        return {"fingerprint": host._fetched_key.fingerprint}
    except DomainError as exc:
        host._fetched_key, host._fetch_error = None, str(exc)
        return {}


def _pin_describe(host):
    current = (
        format_html(
            "Currently pinned: <code>{} {}</code> (by {} at {}).",
            host.host_key_type,
            host.host_key_fingerprint,
            host.host_key_pinned_by or "?",
            both_zones(host.host_key_pinned_at),
        )
        if host.is_pinned
        else "No key is pinned yet: runs against this host are refused until one is."
    )
    fetched = getattr(host, "_fetched_key", None)
    if fetched is not None:
        now = format_html(
            "{}:{} presents <strong><code>{}</code></strong>. Pin it only if it matches the fingerprint shown on the "
            "host itself; every later connection refuses any other key.",
            host.hostname,
            host.port,
            fetched.describe(),
        )
    else:
        now = getattr(host, "_fetch_error", "") or "The key is fetched again when you confirm."
    return format_html("{}<br>{}", now, current)


def _pin_perform(request, host, data):
    pinned = services.host_pin_key(actor=request.user, host=host, confirmed_fingerprint=data["fingerprint"])
    return f"Pinned {pinned.host_key_type} {pinned.host_key_fingerprint} for {pinned.name}."


@admin.register(Host)
class HostAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    form = HostForm
    list_display = (
        "name",
        "address",
        "roles",
        "position",
        "enabled",
        "component_names",
        "pinned_key",
        "pinned_by",
    )
    list_filter = ("enabled",)
    search_fields = ("name", "hostname", "roles")
    list_select_related = ("host_key_pinned_by",)
    filter_horizontal = ("components",)
    readonly_fields = (
        "host_key_type",
        "host_key_fingerprint",
        "host_key_pinned_at_display",
        "pinned_by",
        "audit_history",
    )
    fieldsets = (
        (None, {"fields": ("name", "hostname", "port", "ssh_user", "roles", "enabled", "position", "components")}),
        ("Task parameters for this host", {"fields": ("parameter_defaults",)}),
        (
            "Pinned host key (change it with “Fetch and pin host key”)",
            {
                "fields": ("host_key_type", "host_key_fingerprint", "host_key_pinned_at_display", "pinned_by"),
            },
        ),
        (None, {"fields": ("notes",)}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )
    workflow_actions = [
        WorkflowAction(
            name="pin",
            label="Fetch and pin host key",
            permission="runbooks.pin_host_key",
            perform=_pin_perform,
            form_class=PinForm,
            initial=_pin_initial,
            describe=_pin_describe,
            reauthenticate=True,  # decides which machine is trusted with production commands
        )
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("components")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # "pinned by" names a person with what this viewer may see
        return obj

    @admin.display(description="address")
    def address(self, obj):
        return obj.address

    @admin.display(description="components")
    def component_names(self, obj):
        return ", ".join(c.name for c in obj.components.all()) or "—"

    @admin.display(description="pinned host key")
    def pinned_key(self, obj):
        if not obj.is_pinned:
            return format_html('<span class="errornote" style="padding:1px 4px">{}</span>', "not pinned")
        return format_html("<code>{}</code>", obj.host_key_fingerprint)

    @admin.display(description="pinned by")
    def pinned_by(self, obj):
        # A plain name in the list; on the host's page the person helper (never a link to the user admin).
        if not hasattr(obj, "_viewer"):
            return obj.host_key_pinned_by or "—"
        return person_link(obj.host_key_pinned_by, obj._viewer)

    @admin.display(description="pinned at")
    def host_key_pinned_at_display(self, obj):
        return both_zones(obj.host_key_pinned_at)

    def save_model(self, request, obj, form, change):
        before = services.host_state(Host.objects.get(pk=obj.pk)) if change else {}
        services.host_save(actor=request.user, host=obj, before=before, components=form.cleaned_data.get("components"))
