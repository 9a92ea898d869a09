"""Notification deliveries in the admin: a read-only record, a "Resend" button/action, and DeliveriesMixin.

Deliveries are records: nobody adds, edits or deletes them here. A failed or
skipped delivery can be resent (permission `notifications.resend_notificationdelivery`,
Operators): that queues a NEW delivery linked to it, so the failed one keeps its
attempts and error for the record.

`DeliveriesMixin` gives any other ModelAdmin (windows, incidents) a read-only
field `deliveries_sent`: every delivery about the object, in one query.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_lists import LargeListAdminMixin, RecentValuesFilter
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import both_zones, in_pacific, in_utc, status_badge
from ersen_ops.core.errors import DomainError
from ersen_ops.notifications.channels import CHANNELS
from ersen_ops.notifications.choices import DELIVERY_STATUS_COLOURS, RESENDABLE_STATUSES
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.outcomes import Outcome, delivery_outcome
from ersen_ops.notifications.selectors import deliveries_for
from ersen_ops.notifications.services import delivery_resend, resend_refusal

RESEND_PERMISSION = "notifications.resend_notificationdelivery"


def _delivery_url(pk) -> str:
    return reverse("admin:notifications_notificationdelivery_change", args=[pk])


def _related_link(related_type_id, related_id) -> str:
    """A link to the related object's admin page, from the cached content type: no query per row."""
    if not related_type_id or not related_id:
        return "—"
    ct = ContentType.objects.get_for_id(related_type_id)
    label = f"{ct.name} {related_id}"
    try:
        url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[related_id])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


def _resend(request, obj, cleaned_data) -> str:
    copy = delivery_resend(actor=request.user, delivery=obj, request=request)
    return f"Resent: delivery #{copy.pk} to {copy.target_name} is queued (#{obj.pk} stays {obj.status} for the record)."


def _resend_available(obj) -> bool:
    return obj.status in RESENDABLE_STATUSES and not resend_refusal(obj)


def _resend_unavailable_reason(obj) -> str:
    # Only explain for failed/skipped rows (e.g. "already resent as #12"); sent/queued rows show no button.
    return resend_refusal(obj) if obj.status in RESENDABLE_STATUSES else ""


def _resend_describe(obj) -> str:
    return (
        f"A new delivery of “{obj.heading}” to {obj.get_channel_display()} ({obj.target_name}) is queued, "
        f"with the same text. This delivery stays {obj.get_status_display().lower()} for the record.\n"
        f"Last error: {obj.last_error or '—'}"
    )


# What the search matches on PostgreSQL, one trigram index of exactly this text (migrations notifications 0006, 0008).
# A fan-out delivery (one sharing a DeliveryContent) is found by its event and notice, not by its recipient: the
# recipient's public id would give each of 100,000 rows trigrams of its own (650 bytes a delivery measured); a
# subscriber's own page lists what it was sent.
# Columns named with their table: the list joins the shared content (which has a subject too).
_T = '"notifications_notificationdelivery".'
DELIVERY_SEARCH_SQL = (
    f"upper({_T}subject || ' ' || {_T}event || ' ' || CASE WHEN {_T}content_id IS NULL THEN {_T}target_name ELSE '' END"
    f" || ' ' || {_T}related_id || ' ' || {_T}dedup_key)"
)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(LargeListAdminMixin, WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created",
        "channel",
        "event",
        "subject_text",
        "target_name",
        "status_badge",
        "attempts",
        "response",
        "sent",
        "about",
    )
    list_display_links = ("id", "subject_text")
    list_select_related = ("content",)  # a fan-out's subject is on its shared content
    list_filter = ("channel", "status", RecentValuesFilter("event"), ("created_at", admin.DateFieldListFilter))
    search_fields = ("subject", "event", "target_name", "related_id", "dedup_key", "=id")
    search_expression = DELIVERY_SEARCH_SQL
    exact_search_fields = ("id",)
    list_per_page = 100
    ordering = ("-id",)  # creation order; the primary key serves it at any size
    actions = ["resend_deliveries"]
    fieldsets = (
        ("What", {"fields": ("event", "channel", "target_name", "subject", "message_text", "body", "template_names")}),
        (
            "Delivery",
            {
                "fields": (
                    "status_badge",
                    "attempts_display",
                    "response",
                    "last_error",
                    "parts",
                    "created",
                    "last_attempt",
                    "next_attempt",
                    "sent",
                )
            },
        ),
        ("Links", {"fields": ("about", "resend_of_link", "resends_list", "status_post_link")}),
        ("Pager and email", {"fields": ("pager_action", "dedup_key", "severity", "extra_recipients")}),
        ("Audit", {"fields": ("audit_history",)}),
    )
    readonly_fields = (
        "event",
        "channel",
        "target_name",
        "subject",
        "message_text",
        "body",
        "template_names",
        "status_badge",
        "attempts_display",
        "response",
        "last_error",
        "parts",
        "created",
        "last_attempt",
        "next_attempt",
        "sent",
        "about",
        "resend_of_link",
        "resends_list",
        "status_post_link",
        "pager_action",
        "dedup_key",
        "severity",
        "extra_recipients",
        "audit_history",
    )
    workflow_actions = [
        WorkflowAction(
            name="resend",
            label="Resend",
            permission=RESEND_PERMISSION,
            perform=_resend,
            available=_resend_available,
            unavailable_reason=_resend_unavailable_reason,
            describe=_resend_describe,
        )
    ]

    # --- live status for the "Notifications sent" tables (queued → sent without a reload) ---
    def get_urls(self):
        from django.urls import path

        live = path(
            "status.json",
            self.admin_site.admin_view(self.status_view),
            name="notifications_notificationdelivery_status",
        )
        return [live, *super().get_urls()]

    def status_view(self, request):
        """{"deliveries": [{id, status, label, colour, attempts, response, error, sent}]} for ?ids=1,2,3.

        GET only, changes nothing, one query; needs the view permission."""
        if request.method != "GET":
            raise PermissionDenied("GET only.")
        if not self.has_view_permission(request):
            raise PermissionDenied("Your role does not include viewing notification deliveries.")
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()][:200]
        rows = NotificationDelivery.objects.filter(pk__in=ids).only(
            "id", "status", "attempts", "response", "last_error", "sent_at"
        )
        return JsonResponse(
            {
                "deliveries": [
                    {
                        "id": d.pk,
                        "status": d.status,
                        "label": d.get_status_display(),
                        "colour": DELIVERY_STATUS_COLOURS.get(d.status),
                        "attempts": d.attempts,
                        "response": d.response,
                        "error": d.last_error[:200],
                        "sent": f"{in_pacific(d.sent_at)} ({in_utc(d.sent_at)})" if d.sent_at else "",
                    }
                    for d in rows
                ]
            }
        )

    # --- records: never added, changed or deleted by hand ---
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm(RESEND_PERMISSION)

    # --- columns ---
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display(), DELIVERY_STATUS_COLOURS)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return both_zones(obj.created_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, obj):
        return both_zones(obj.sent_at)

    @admin.display(description="last attempt started")
    def last_attempt(self, obj):
        return both_zones(obj.last_attempt_at)

    @admin.display(description="next attempt due")
    def next_attempt(self, obj):
        return both_zones(obj.next_attempt_at)

    @admin.display(description="about")
    def about(self, obj):
        return _related_link(obj.related_type_id, obj.related_id)

    @admin.display(description="attempts")
    def attempts_display(self, obj):
        from ersen_ops.notifications.sending import max_attempts

        return f"{obj.attempts} of at most {max_attempts()}"

    @admin.display(description="parts")
    def parts(self, obj):
        if obj.parts_total <= 1:
            return "—"
        return f"{obj.parts_sent} of {obj.parts_total} sent"

    @admin.display(description="message (as sent)")
    @admin.display(description="subject", ordering="subject")
    def subject_text(self, obj):
        return obj.heading

    def message_text(self, obj):
        html = ""
        if obj.text_html:
            html = format_html("<details><summary>HTML alternative</summary><pre>{}</pre></details>", obj.text_html)
        shared = ""
        if obj.content_id:
            shared = format_html(
                "<p>Shared by every recipient of {} (stored once); the recipient's own links replace the "
                "placeholders when it is sent.</p>",
                obj.content,
            )
        return format_html('{}<pre style="white-space:pre-wrap">{}</pre>{}', shared, obj.text, html)

    @admin.display(description="resend of")
    def resend_of_link(self, obj):
        if not obj.resend_of_id:
            return "—"
        return format_html('<a href="{}">#{}</a>', _delivery_url(obj.resend_of_id), obj.resend_of_id)

    @admin.display(description="resent as")
    def resends_list(self, obj):
        rows = list(obj.resends.order_by("id").values_list("pk", "status"))
        if not rows:
            return "—"
        return format_html_join(", ", '<a href="{}">#{}</a> ({})', ((_delivery_url(pk), pk, st) for pk, st in rows))

    @admin.display(description="status page post")
    def status_post_link(self, obj):
        channel = CHANNELS.get(obj.channel)  # the channel's owner says what a sent delivery left behind
        published = channel.published(obj) if channel is not None else None
        if not published:
            return "—"
        name, url = published
        return format_html('<a href="{}">{}</a>', url, name) if url else name

    # --- resend, for many at once ---
    @admin.action(description="Resend selected failed/skipped deliveries", permissions=["resend"])
    def resend_deliveries(self, request, queryset):
        if not self.has_resend_permission(request):
            raise PermissionDenied("Your role does not allow resending notifications.")
        resent, refused = [], []
        for delivery in queryset.order_by("id"):
            try:
                resent.append(delivery_resend(actor=request.user, delivery=delivery, request=request))
            except DomainError as exc:
                refused.append(str(exc))
        if resent:
            messages.success(request, f"Resent {len(resent)} deliveries: " + ", ".join(f"#{d.pk}" for d in resent))
        for reason in refused:
            messages.warning(request, reason)


class DeliveriesMixin:
    """Add to a ModelAdmin to show, on the change form, every notification about the object.

    Adds the read-only field `deliveries_sent` (list it in `fields`/`fieldsets` if the admin
    declares them; otherwise Django appends it). One query, whatever the number of deliveries.
    """

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if "deliveries_sent" not in fields:
            fields.append("deliveries_sent")
        return fields

    @admin.display(description="Notifications: who was told what, when, and whether it arrived")
    def deliveries_sent(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        rows = [
            {
                "delivery": d,
                "url": _delivery_url(d.pk),
                "badge": status_badge(d.status, d.get_status_display(), DELIVERY_STATUS_COLOURS),
                # "queued" to an unconfigured channel will be skipped: say so beside the status.
                "outcome": outcome.words if (outcome := delivery_outcome(d)).outcome == Outcome.NOT_CONFIGURED else "",
                "created": both_zones(d.created_at),
                "sent": both_zones(d.sent_at) if d.sent_at else "",
                "resend_of_url": _delivery_url(d.resend_of_id) if d.resend_of_id else "",
            }
            for d in deliveries_for(obj)
        ]
        return render_to_string("notifications/admin/deliveries.html", {"rows": rows})
