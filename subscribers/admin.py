"""Subscribers in the admin: email subscribers (read-only list, CSV export, unsubscribe, erase), webhook
subscribers (register, edit, disable / re-enable, rotate the secret — shown once), and notices (read-only).

Every change goes through `subscribers.services`; buttons use the shared WorkflowAdminMixin.
"""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.audit.services import record
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from ersen_ops.notifications.choices import DELIVERY_STATUS_COLOURS
from subscribers import policy, selectors, services
from subscribers.choices import (
    NOTICE_STATUS_COLOURS,
    SUBSCRIBER_STATUS_COLOURS,
    WEBHOOK_STATUS_COLOURS,
    SubscriberStatus,
    WebhookStatus,
)
from subscribers.models import Notice, Subscriber, WebhookSubscriber


def _delivery_rows(messages_):
    return [
        {
            "delivery": m.delivery,
            "url": reverse("admin:notifications_notificationdelivery_change", args=[m.delivery_id]),
            "badge": status_badge(m.delivery.status, m.delivery.get_status_display(), DELIVERY_STATUS_COLOURS),
            "created": both_zones(m.delivery.created_at),
            "sent": both_zones(m.delivery.sent_at) if m.delivery.sent_at else "",
            "resend_of_url": "",
        }
        for m in messages_
    ]


def _last_delivery(obj) -> str:
    if not getattr(obj, "last_delivery_at", None):
        return "—"
    status = obj.last_delivery_status or ""
    return format_html(
        "{}<br>{}", both_zones(obj.last_delivery_at), status_badge(status, status.capitalize(), DELIVERY_STATUS_COLOURS)
    )


# --- email subscribers ------------------------------------------------------------------------------------------


def _unsubscribe(request, obj, cleaned_data) -> str:
    services.subscriber_unsubscribe(actor=request.user, subscriber=obj, via="operator (admin)", request=request)
    return f"{obj} is unsubscribed; no more updates are sent to it."


@admin.register(Subscriber)
class SubscriberAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("email", "status_badge", "components_list", "created", "confirmed", "last_delivery")
    list_filter = ("status", "components", ("created_at", admin.DateFieldListFilter))
    search_fields = ("email", "=public_id")
    date_hierarchy = "created_at"
    list_per_page = 100
    ordering = ("-created_at", "-id")
    actions = ["export_csv", "unsubscribe_selected"]
    fields = (
        "public_id",
        "email",
        "status_badge",
        "components_list",
        "created",
        "confirmation_sent",
        "confirmations_sent",
        "confirmed",
        "unsubscribed",
        "recent_deliveries",
        "audit_history",
    )
    readonly_fields = fields
    workflow_actions = [
        WorkflowAction(
            name="unsubscribe",
            label="Unsubscribe",
            permission=services.PERM_UNSUBSCRIBE,
            perform=_unsubscribe,
            available=lambda obj: obj.status != SubscriberStatus.UNSUBSCRIBED,
            describe=lambda obj: (
                "No more updates are sent to this address; the links in earlier emails stop working. "
                "The address may subscribe again (with a new confirmation)."
            ),
        )
    ]

    def get_queryset(self, request):
        return selectors.subscribers_for_admin(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # only the address's owner subscribes it (double opt-in)

    def has_change_permission(self, request, obj=None):
        return False

    def has_export_permission(self, request):
        return request.user.has_perm(services.PERM_EXPORT)

    def has_unsubscribe_permission(self, request):
        return request.user.has_perm(services.PERM_UNSUBSCRIBE)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display(), SUBSCRIBER_STATUS_COLOURS)

    @admin.display(description="components")
    def components_list(self, obj):
        names = [c.name for c in obj.components.all()]  # prefetched
        return ", ".join(names) if names else "all"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return both_zones(obj.created_at)

    @admin.display(description="confirmed", ordering="confirmed_at")
    def confirmed(self, obj):
        return both_zones(obj.confirmed_at)

    @admin.display(description="confirmation sent")
    def confirmation_sent(self, obj):
        return both_zones(obj.confirmation_sent_at)

    @admin.display(description="unsubscribed")
    def unsubscribed(self, obj):
        if not obj.unsubscribed_at:
            return "—"
        return format_html("{}<br><small>via {}</small>", both_zones(obj.unsubscribed_at), obj.unsubscribed_via)

    @admin.display(description="last delivery", ordering="last_delivery_at")
    def last_delivery(self, obj):
        return _last_delivery(obj)

    @admin.display(description="recent deliveries (latest 20)")
    def recent_deliveries(self, obj):
        rows = _delivery_rows(selectors.recent_messages(subscriber=obj))
        return render_to_string("notifications/admin/deliveries.html", {"rows": rows})

    # --- erasure through the service (audited, the address disappears everywhere) ---
    def delete_model(self, request, obj):
        services.subscriber_erase(actor=request.user, subscriber=obj, request=request)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.subscriber_erase(actor=request.user, subscriber=obj, request=request)

    # --- bulk actions ---
    @admin.action(description="Export selected subscribers to CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        if not self.has_export_permission(request):
            raise PermissionDenied("Your role does not allow exporting subscribers.")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["email", "status", "components", "created_at", "confirmed_at", "last_delivery_at", "id"])
        count = 0
        for s in queryset.order_by("pk"):
            writer.writerow(
                [
                    policy.csv_cell(value)
                    for value in (
                        s.email,
                        s.status,
                        "; ".join(c.name for c in s.components.all()) or "all",
                        s.created_at.isoformat(),
                        s.confirmed_at.isoformat() if s.confirmed_at else "",
                        s.last_delivery_at.isoformat() if s.last_delivery_at else "",
                        s.public_id,
                    )
                ]
            )
            count += 1
        record(
            actor=request.user,
            action="subscribers.exported",
            data={"count": count, "filters": request.GET.urlencode()[:500]},
            request=request,
        )
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response

    @admin.action(description="Unsubscribe selected subscribers", permissions=["unsubscribe"])
    def unsubscribe_selected(self, request, queryset):
        done = 0
        for subscriber in queryset.exclude(status=SubscriberStatus.UNSUBSCRIBED):
            services.subscriber_unsubscribe(
                actor=request.user, subscriber=subscriber, via="operator (admin)", request=request
            )
            done += 1
        messages.success(request, f"Unsubscribed {done} subscriber(s).")


# --- webhook subscribers --------------------------------------------------------------------------------------------


class DisableForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Shown in the admin.")


def _enable(request, obj, cleaned_data) -> str:
    services.webhook_enable(actor=request.user, webhook=obj, request=request)
    return f"“{obj.name}” is active again; its failure count starts from zero."


def _disable(request, obj, cleaned_data) -> str:
    services.webhook_disable(actor=request.user, webhook=obj, reason=cleaned_data["reason"], request=request)
    return f"“{obj.name}” is disabled: queued payloads are skipped, new ones are not sent."


def _rotate(request, obj, cleaned_data) -> str:
    request._subscribers_revealed_secret = services.webhook_rotate_secret(
        actor=request.user, webhook=obj, request=request
    )
    return f"“{obj.name}” has a new signing secret; the old one no longer verifies."


class WebhookSubscriberForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text=WebhookSubscriber._meta.get_field("url").help_text
    )

    class Meta:
        model = WebhookSubscriber
        fields = ("name", "url", "contact", "components")
        widgets = {"components": forms.CheckboxSelectMultiple}

    def clean_url(self):
        try:
            return services.check_webhook_url(self.cleaned_data.get("url", ""))
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(WebhookSubscriber)
class WebhookSubscriberAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    form = WebhookSubscriberForm
    list_display = (
        "name",
        "host",
        "status_badge",
        "components_list",
        "consecutive_failures",
        "last_success",
        "last_failure",
        "last_delivery",
    )
    list_filter = ("status",)
    search_fields = ("name", "contact", "=public_id")
    ordering = ("name", "id")
    readonly_fields = (
        "public_id",
        "status_badge",
        "disabled",
        "consecutive_failures",
        "last_success",
        "last_failure",
        "last_response",
        "last_error",
        "secret_info",
        "recent_deliveries",
        "audit_history",
    )
    workflow_actions = [
        WorkflowAction(
            name="enable",
            label="Re-enable",
            permission=services.PERM_ENABLE_WEBHOOK,
            perform=_enable,
            available=lambda obj: obj.status == WebhookStatus.DISABLED,
            reauthenticate=True,  # payloads start flowing to a partner's endpoint again
            describe=lambda obj: (
                f"Disabled because: {obj.disabled_reason}\nPayloads are sent again from the next "
                "notice on (skipped ones can be resent from Notification deliveries)."
            ),
        ),
        WorkflowAction(
            name="disable",
            label="Disable",
            permission=services.PERM_ENABLE_WEBHOOK,
            perform=_disable,
            available=lambda obj: obj.status == WebhookStatus.ACTIVE,
            form_class=DisableForm,
            css_class="deletelink",
        ),
        WorkflowAction(
            name="rotate_secret",
            label="Rotate secret",
            permission=services.PERM_CHANGE_WEBHOOK,
            perform=_rotate,
            describe=lambda obj: (
                "A new signing secret is generated and shown once. The old one stops verifying at "
                "once: give the new one to the receiver first."
            ),
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("name", "url", "contact", "components")}),)
        return (
            (None, {"fields": ("public_id", "name", "url", "contact", "components")}),
            (
                "Status",
                {
                    "fields": (
                        "status_badge",
                        "disabled",
                        "consecutive_failures",
                        "last_success",
                        "last_failure",
                        "last_response",
                        "last_error",
                        "secret_info",
                    )
                },
            ),
            ("Recent deliveries", {"fields": ("recent_deliveries",)}),
            ("Audit", {"fields": ("audit_history",)}),
        )

    def get_queryset(self, request):
        return selectors.webhooks_for_admin(super().get_queryset(request))

    # --- saving through the services ---
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.webhook_update(
                actor=request.user,
                webhook=obj,
                name=data["name"],
                url=data["url"],
                contact=data.get("contact", ""),
                components=data.get("components"),
                request=request,
            )
        else:
            webhook, secret = services.webhook_create(
                actor=request.user,
                name=data["name"],
                url=data["url"],
                contact=data.get("contact", ""),
                components=data.get("components") or (),
                request=request,
            )
            obj.pk = webhook.pk
            request._subscribers_revealed_secret = secret

    def save_related(self, request, form, formsets, change):
        pass  # components are set by the service

    def delete_model(self, request, obj):
        services.webhook_delete(actor=request.user, webhook=obj, request=request)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.webhook_delete(actor=request.user, webhook=obj, request=request)

    def response_add(self, request, obj, post_url_continue=None):
        return self._reveal(request, obj, "registered")

    def workflow_view(self, request, object_id, action):
        response = super().workflow_view(request, object_id, action)
        secret = getattr(request, "_subscribers_revealed_secret", None)
        if secret and response.status_code == 302:
            return self._reveal(request, WebhookSubscriber.objects.get(pk=object_id), "given a new secret")
        return response

    def _reveal(self, request, obj, what: str):
        """The secret, once, in the response body (never in a message cookie, never stored for display)."""
        secret = getattr(request, "_subscribers_revealed_secret", "")
        response = TemplateResponse(
            request,
            "subscribers/admin/webhook_secret.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": obj,
                "title": f"Webhook {what}: {obj.name}",
                "secret": secret,
                "change_url": reverse("admin:subscribers_webhooksubscriber_change", args=[obj.pk]),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    # --- columns ---
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display(), WEBHOOK_STATUS_COLOURS)

    @admin.display(description="host")
    def host(self, obj):
        return obj.host

    @admin.display(description="components")
    def components_list(self, obj):
        names = [c.name for c in obj.components.all()]
        return ", ".join(names) if names else "all"

    @admin.display(description="last success")
    def last_success(self, obj):
        return both_zones(obj.last_success_at)

    @admin.display(description="last failure")
    def last_failure(self, obj):
        return both_zones(obj.last_failure_at)

    @admin.display(description="last delivery")
    def last_delivery(self, obj):
        return _last_delivery(obj)

    @admin.display(description="disabled")
    def disabled(self, obj):
        if obj.status != WebhookStatus.DISABLED:
            return "—"
        return format_html(
            "{} by {}<br><strong>Reason:</strong> {}",
            both_zones(obj.disabled_at),
            obj.disabled_by_name,
            obj.disabled_reason,
        )

    @admin.display(description="signing secret")
    def secret_info(self, obj):
        return format_html(
            "Shown once when generated (last: {}). Use “Rotate secret” for a new one.",
            both_zones(obj.secret_rotated_at),
        )

    @admin.display(description="recent deliveries (latest 20)")
    def recent_deliveries(self, obj):
        rows = _delivery_rows(selectors.recent_messages(webhook=obj))
        return render_to_string("notifications/admin/deliveries.html", {"rows": rows})


# --- notices ---------------------------------------------------------------------------------------------------------


@admin.register(Notice)
class NoticeAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("created", "kind", "subject", "related_public_id", "status_badge", "recipients", "progress")
    list_filter = ("kind", "status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("subject", "=public_id", "=related_public_id", "event")
    date_hierarchy = "created_at"
    list_per_page = 100
    fields = (
        "public_id",
        "kind",
        "event",
        "subject",
        "related_public_id",
        "status_badge",
        "recipients",
        "progress",
        "delivery_counts",
        "body",
        "details",
        "component_ids",
        "ics_sequence",
        "window_start",
        "window_end",
        "webhook_payload",
        "created",
        "audit_history",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return both_zones(obj.created_at)

    @admin.display(description="fan-out", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display(), NOTICE_STATUS_COLOURS)

    @admin.display(description="recipients")
    def recipients(self, obj):
        return f"{obj.email_recipients} email · {obj.webhook_recipients} webhook"

    @admin.display(description="chunks done")
    def progress(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total} ({obj.deliveries_queued} deliveries queued)"

    @admin.display(description="deliveries by status")
    def delivery_counts(self, obj):
        counts = selectors.notice_delivery_counts(obj)
        if not counts:
            return "—"
        return format_html(
            "{}",
            ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())),
        )
