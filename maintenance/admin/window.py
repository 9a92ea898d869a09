"""The window admin: list, change form, the on-call page; every change goes through `maintenance.services`."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_people import person_filter
from ersen_ops.core.admin_workflow import (
    WorkflowAction,
    WorkflowAdminMixin,
    report_message,
    reported_action,
)
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from ersen_ops.core.people import person_link
from ersen_ops.notifications import outcomes
from ersen_ops.notifications.admin import DeliveriesMixin
from maintenance import forms as mforms
from maintenance import policy, selectors, services
from maintenance.admin.actions import (
    APPROVE,
    ITEM_ACTIONS,
    WINDOW_ACTIONS,
    _approve_form,
    _nothing_to_approve,
    _perform_approve,
    _perform_revoke,
)
from maintenance.admin.confirmations import (
    _actions,
    _component_list,
    _utc,
)
from maintenance.admin.panels import window_panels
from maintenance.choices import STATUS_COLOURS, TYPE_COLOURS, ItemKey, MaintenanceType, WindowEvent, WindowStatus
from maintenance.models import MaintenanceWindow


class WindowOverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue (past ETA)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=WindowStatus.IN_PROGRESS, eta__lt=timezone.now())
        return queryset


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(WorkflowAdminMixin, DeliveriesMixin, AuditHistoryMixin, admin.ModelAdmin):
    form = mforms.MaintenanceWindowForm
    change_form_template = "admin/maintenance/maintenancewindow/change_form.html"
    list_display = (
        "title",
        "type_badge",
        "status_badge",
        "start_column",
        "duration_column",
        "checklist_progress",
        "overdue_column",
        "owner",
    )
    list_filter = (
        "type",
        "status",
        ("scheduled_phase", admin.ChoicesFieldListFilter),
        WindowOverdueFilter,
        ("planned_start", admin.DateFieldListFilter),
        person_filter("owner", "on_call_engineer", title="owner or on call"),
    )
    search_fields = ("title", "public_id", "impact", "reason", "owner__username", "components__name")
    list_select_related = ("owner",)
    date_hierarchy = "planned_start"
    list_per_page = 50
    filter_horizontal = ("components",)
    ordering = ("-planned_start", "-id")

    WINDOW_FIELDS = policy.WINDOW_FIELDS
    STATE_FIELDS = (
        "public_id",
        "status_badge",
        "times_in_zones",
        "eta_display",
        "actual_start_display",
        "actual_end_display",
        "announced_at_display",
        "closed_at_display",
        "scheduled_phase",
        "cancellation_reason",
        "emergency_justification",
    )

    def get_fieldsets(self, request, obj=None):
        window_fields = self.WINDOW_FIELDS
        if obj is not None:
            # A time that cannot be edited is shown in Pacific, UTC and the operator's zone, never as a bare
            # "11 a.m." in an unnamed zone.
            fixed = not self.has_change_permission(request, obj) or set(self.TIME_FIELDS) <= set(
                self.get_readonly_fields(request, obj)
            )
            if fixed:
                window_fields = tuple(f"{f}_display" if f in self.TIME_FIELDS else f for f in window_fields)
            # A read-only person is named with a link the viewer may follow (their windows), never the user admin.
            people_fixed = not self.has_change_permission(request, obj) or set(self.PERSON_FIELDS) <= set(
                self.get_readonly_fields(request, obj)
            )
            if people_fixed:
                window_fields = tuple(f"{f}_display" if f in self.PERSON_FIELDS else f for f in window_fields)
        fieldsets = [("Window", {"fields": window_fields})]
        if obj is not None:
            fieldsets += [
                ("State", {"fields": self.STATE_FIELDS}),
                ("Post-maintenance summary", {"fields": ("summary_text",), "classes": ("collapse",)}),
                # Open while anything is still being sent, so "queued → sent" is seen live after a transition.
                (
                    "Notifications",
                    {"fields": ("deliveries_sent",), "classes": () if self._sending(obj) else ("collapse",)},
                ),
                ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
            ]
        return fieldsets

    @staticmethod
    def _sending(obj) -> bool:
        from ersen_ops.notifications.choices import FINAL_STATUSES

        if not hasattr(obj, "_deliveries_pending"):  # get_fieldsets runs several times per page
            obj._deliveries_pending = selectors.window_deliveries(obj).exclude(status__in=FINAL_STATUSES).exists()
        return obj._deliveries_pending

    TIME_FIELDS = ("planned_start", "planned_end")
    PERSON_FIELDS = ("owner", "on_call_engineer")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # read-only person fields link to what this viewer may see
        return obj

    @admin.display(description="Owner")
    def owner_display(self, obj):
        return person_link(obj.owner, getattr(obj, "_viewer", None))

    @admin.display(description="On-call engineer")
    def on_call_engineer_display(self, obj):
        return person_link(obj.on_call_engineer, getattr(obj, "_viewer", None))

    @admin.display(description="Planned start")
    def planned_start_display(self, obj):
        return both_zones(obj.planned_start)

    @admin.display(description="Planned end")
    def planned_end_display(self, obj):
        return both_zones(obj.planned_end)

    def get_readonly_fields(self, request, obj=None):
        readonly = [
            *self.STATE_FIELDS,
            "summary_text",
            "audit_history",
            "deliveries_sent",
            "planned_start_display",
            "planned_end_display",
            "owner_display",
            "on_call_engineer_display",
        ]
        if obj is not None:
            editable = services.EDITABLE_FIELDS[obj.status]
            if editable is not None:
                readonly += [f for f in self.WINDOW_FIELDS if f not in editable]
        return readonly

    def get_queryset(self, request):
        return selectors.window_list()

    def get_urls(self):
        from django.urls import path

        from maintenance.admin_calendar import calendar_view

        calendar = path(
            "calendar/",
            self.admin_site.admin_view(calendar_view(self)),
            name="maintenance_maintenancewindow_calendar",
        )
        on_call = path(
            "<path:object_id>/on-call/",
            self.admin_site.admin_view(self.on_call_view),
            name="maintenance_maintenancewindow_on_call",
        )
        return [calendar, on_call, *super().get_urls()]

    def on_call_view(self, request, object_id):
        """The on-call engineer's own page (linked from the email that asks them): confirm being available.

        Their own act, so no approver role is needed; anyone else who may see the window sees who is asked.
        """
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponseRedirect
        from django.shortcuts import get_object_or_404
        from django.template.response import TemplateResponse
        from django.urls import reverse

        window = get_object_or_404(selectors.window_list(), pk=object_id)
        is_on_call = window.on_call_engineer_id == request.user.pk
        if not is_on_call and not self.has_view_permission(request, window):
            raise PermissionDenied("Only the window's on-call engineer or someone who may see the window.")
        item = window.checklist_items.filter(key=ItemKey.ON_CALL_CONFIRMED).prefetch_related("approvals").first()
        error = ""
        if request.method == "POST":
            try:
                services.checklist_confirm_on_call(actor=request.user, window=window, note=request.POST.get("note", ""))
            except DomainError as exc:
                error = str(exc)
            else:
                messages.success(request, f"You confirmed being on call for “{window}”. Thank you.")
                if self.has_view_permission(request, window):
                    return HttpResponseRedirect(reverse("admin:maintenance_maintenancewindow_change", args=[window.pk]))
                return HttpResponseRedirect(request.path)
        if item is None:
            refusal = (
                "Nothing to confirm yet: the checklist is created when the window is scheduled."
                if window.status == WindowStatus.DRAFT
                else "This window has no on-call item."
            )
        else:
            refusal = services.approval_refusal(window, item, request.user)
        confirmations = [a for a in item.approvals.all() if a.revoked_at is None] if item else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": window,
            "title": f"On call for “{window}”",
            "item": item,
            "is_on_call": is_on_call,
            "refusal": refusal,
            "error": error,
            "confirmations": confirmations,
            "when": policy.fmt_local_range(window.planned_start, window.planned_end),
            "components": _component_list(window),
            "can_view_window": self.has_view_permission(request, window),
            "change_url": reverse("admin:maintenance_maintenancewindow_change", args=[window.pk]),
        }
        return TemplateResponse(
            request, "admin/maintenance/maintenancewindow/on_call.html", context, status=400 if error else 200
        )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    def has_delete_permission(self, request, obj=None):
        return False  # windows are history: cancel instead

    # --- list columns -------------------------------------------------------------------------------------

    @admin.display(description="Type", ordering="type")
    def type_badge(self, obj):
        return status_badge(obj.type, obj.get_type_display().split(" (")[0], TYPE_COLOURS)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        badge = status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS)
        if obj.status == WindowStatus.COMPLETED and obj.closed_at:
            return format_html("{} <small>closed</small>", badge)
        return badge

    @admin.display(description="Start (Pacific / UTC)", ordering="planned_start")
    def start_column(self, obj):
        return both_zones(obj.planned_start)

    @admin.display(description="Duration")
    def duration_column(self, obj):
        planned = policy.fmt_duration(obj.planned_duration) if obj.planned_duration else "—"
        if obj.actual_duration is not None:
            return format_html("{}<br><small>actual {}</small>", planned, policy.fmt_duration(obj.actual_duration))
        return planned

    @admin.display(description="Checklist")
    def checklist_progress(self, obj):
        total = getattr(obj, "checklist_total", None)
        if not total:
            return "—"
        return f"{obj.checklist_done}/{total}"

    @admin.display(description="Overdue")
    def overdue_column(self, obj):
        now = timezone.now()
        if obj.is_overdue(now):
            return format_html(
                '<span class="overdue">Overdue by {} (ETA {})</span>',
                policy.fmt_duration(now - obj.eta),
                policy.fmt_local(obj.eta, "H:i T"),
            )
        return ""

    # --- change form read-only fields ---------------------------------------------------------------------

    @admin.display(description="Planned (Pacific / UTC)")
    def times_in_zones(self, obj):
        return format_html(
            "{} → {}<br><small>{} → {}</small>",
            policy.fmt_local(obj.planned_start),
            policy.fmt_local(obj.planned_end),
            _utc(obj.planned_start),
            _utc(obj.planned_end),
        )

    @admin.display(description="ETA (current estimated completion)")
    def eta_display(self, obj):
        text = both_zones(obj.eta)
        if obj.is_overdue(timezone.now()):
            return format_html('<span class="overdue">{}</span>', text)
        return text

    @admin.display(description="Actual start")
    def actual_start_display(self, obj):
        return both_zones(obj.actual_start)

    @admin.display(description="Actual end")
    def actual_end_display(self, obj):
        return both_zones(obj.actual_end)

    @admin.display(description="Announced at")
    def announced_at_display(self, obj):
        return both_zones(obj.announced_at)

    @admin.display(description="Closed at (every “after” item done)")
    def closed_at_display(self, obj):
        return both_zones(obj.closed_at)

    @admin.display(description="Post-maintenance summary (for #team-ops)")
    def summary_text(self, obj):
        if not obj.summary:
            return "—"
        sent = [d for d in selectors.window_deliveries(obj) if d.event == WindowEvent.SUMMARY]
        told = outcomes.describe_deliveries(sent, nothing="Not sent anywhere.")
        return format_html(
            "<p class='{}'>{}</p><pre style='white-space:pre-wrap'>{}</pre>",
            "summary-outcome errornote" if outcomes.deliveries_have_problem(sent) else "summary-outcome",
            told,
            obj.summary,
        )

    # --- workflow -------------------------------------------------------------------------------------------

    def get_workflow_actions(self, request, obj):
        if obj is None:
            return list(WINDOW_ACTIONS)
        actions = list(WINDOW_ACTIONS)
        if obj.type != MaintenanceType.EMERGENCY:
            # Only emergency windows may override a rule with a justification: don't ask the others for one.
            actions = [
                replace(a, form_class=mforms.NoFieldsForm) if a.name in ("schedule", "start") else a for a in actions
            ]
        return [
            *actions,
            WorkflowAction(
                name="approve",
                label="Approve checklist item",
                permission=APPROVE,
                perform=_perform_approve,
                available=lambda o: bool(_approve_form(o, request.user).offered),
                unavailable_reason=lambda o: _nothing_to_approve(o, request.user),
                # Built on first use (the Approve page), not on every change page.
                form_class=lambda *args, **kwargs: _approve_form(obj, request.user)(*args, **kwargs),
                initial=lambda req, o: {"item": req.GET.get("item")} if (req.GET.get("item") or "").isdigit() else {},
                describe=lambda o: (
                    "Records your approval (with an optional note and evidence link). Each item "
                    "says what it needs beside it; the on-call engineer confirms their own availability on their page."
                ),
            ),
            WorkflowAction(
                name="revoke",
                label="Revoke approval",
                permission=APPROVE,
                perform=_perform_revoke,
                available=lambda o: not _actions(o)["revoke"],
                form_class=mforms.revoke_form_for(obj),
                initial=lambda req, o: (
                    {"approval": req.GET.get("approval")} if (req.GET.get("approval") or "").isdigit() else {}
                ),
                describe=lambda o: "Withdraws an approval. It stays in the record, marked revoked, with your reason.",
                css_class="deletelink",
            ),
        ]

    def workflow_buttons(self, request, obj):
        return [b for b in super().workflow_buttons(request, obj) if b["name"] not in ITEM_ACTIONS]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._panels(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _panels(self, request, obj) -> dict:
        return window_panels(self, request, obj)

    # --- saving goes through the services ---------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in self.WINDOW_FIELDS if f in form.cleaned_data and f != "components"}
        components = form.cleaned_data.get("components")
        if not change:
            window = services.window_create(actor=request.user, components=components or [], **data)
            obj.pk = window.pk
            obj.public_id = window.public_id
            obj._state.adding = False
            return
        with reported_action() as results:
            services.window_update(actor=request.user, window=obj, components=components, **data)
        if any(text for text, _ in results):
            report_message(request, "Saved.", results)  # a scheduled window is re-announced: say what that came to

    def save_related(self, request, form, formsets, change):
        pass  # components are set by the services (audited with the rest)

    def response_add(self, request, obj, post_url_continue=None):
        # A new window is a draft: its page (protocol check, next slots, Schedule) is the next step, not the list.
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        messages.success(
            request,
            f"Draft “{obj}” saved; nothing is announced yet. Check the protocol panel below, then Schedule.",
        )
        return HttpResponseRedirect(reverse("admin:maintenance_maintenancewindow_change", args=[obj.pk]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            # A rule refused the change after the form validated (a race): say so, change nothing.
            messages.error(request, str(exc))
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())
