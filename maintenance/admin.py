"""The operator's main screen for maintenance: windows (list, change form, workflow buttons), freezes, checklists.

Every change goes through `maintenance.services`; the admin only shows and asks.
"""

from __future__ import annotations

from dataclasses import replace

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_people import person_filter
from ersen_ops.core.admin_workflow import (
    WorkflowAction,
    WorkflowAdminMixin,
    final,
    report_message,
    reported_action,
)
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from ersen_ops.core.people import person_link
from ersen_ops.notifications import outcomes
from maintenance import forms as mforms
from maintenance import messages as texts
from maintenance import policy, selectors, services
from maintenance.choices import STATUS_COLOURS, TYPE_COLOURS, ChecklistPhase, ItemKey, MaintenanceType, WindowStatus
from maintenance.models import ChecklistTemplate, ChecklistTemplateItem, FreezePeriod, MaintenanceWindow

try:  # the notifications app's shared panel (issue 3)
    from ersen_ops.notifications.admin import DeliveriesMixin
except ImportError:  # pragma: no cover - until it lands

    class DeliveriesMixin:
        def get_readonly_fields(self, request, obj=None):
            return [*super().get_readonly_fields(request, obj), "deliveries_sent"]

        @admin.display(description="Notifications sent")
        def deliveries_sent(self, obj):
            from django.template.loader import render_to_string

            if obj is None or obj.pk is None:
                return "—"
            return render_to_string(
                "admin/maintenance/maintenancewindow/deliveries.html", {"deliveries": selectors.window_deliveries(obj)}
            )


# --- workflow actions (Schedule, Start, Update ETA, Complete, Cancel; Approve / Revoke per item) -------------


def _perform_schedule(request, obj, data):
    services.window_schedule(actor=request.user, window=obj, justification=data.get("justification", ""))
    asked = (
        f" The on-call engineer {obj.on_call_engineer} is asked by email to confirm." if obj.on_call_engineer else ""
    )
    return f"Scheduled “{obj}”; the announcement is queued.{asked}"


def _perform_start(request, obj, data):
    services.window_start(actor=request.user, window=obj, justification=data.get("justification", ""))
    return f"“{obj}” is in progress; ETA {policy.fmt_local(obj.eta)}."


def _perform_eta(request, obj, data):
    services.window_update_eta(actor=request.user, window=obj, new_eta=data["new_eta"], reason=data["reason"])
    return f"New ETA {policy.fmt_local(data['new_eta'])} published."


def _perform_complete(request, obj, data):
    services.window_complete(actor=request.user, window=obj)
    return f"“{obj}” completed; the summary is queued for #team-ops."


def _perform_cancel(request, obj, data):
    services.window_cancel(actor=request.user, window=obj, reason=data["reason"])
    return f"“{obj}” cancelled."


def _perform_approve(request, obj, data):
    item = data["item"]
    services.checklist_approve(
        actor=request.user, item=item, note=data.get("note", ""), evidence_url=data.get("evidence_url", "")
    )
    return f"Approved “{item.text}”."


def _perform_revoke(request, obj, data):
    approval = data["approval"]
    services.checklist_revoke(actor=request.user, approval=approval, reason=data["reason"])
    return f"Revoked {approval.actor_name}'s approval of “{approval.item.text}”."


def _steps(*items, refusals=(), refusal_title="", extra=None):
    """'What happens when you confirm' as HTML: numbered steps, then any refusal, then extra (e.g. the text)."""
    parts = [
        format_html(
            "<p><strong>When you confirm:</strong></p><ol class='workflow-steps'>{}</ol>",
            format_html_join("", "<li>{}</li>", ((i,) for i in items if i)),
        )
    ]
    if refusals:
        parts.append(
            format_html(
                "<p class='errornote'><strong>{}</strong></p><ul class='errorlist'>{}</ul>",
                refusal_title,
                format_html_join("", "<li>{}</li>", ((v.message,) for v in refusals)),
            )
        )
    if extra:
        parts.append(extra)
    return format_html_join("", "{}", ((p,) for p in parts))


def _channel_list(values) -> str:
    # Each channel with what happens if it is not configured (it is skipped): never promise a message nobody gets.
    return outcomes.describe_channels(values)


def _component_list(obj) -> str:
    return ", ".join(c.name for c in obj.components.all()) or "no component"


def _describe_schedule(obj):
    now = timezone.now()
    plan = policy.channels_for(obj.type, services.current_phase(), obj.planned_duration)
    items = ChecklistTemplateItem.objects.count()
    slots = ""
    if obj.type == MaintenanceType.ROUTINE:
        found = services.valid_slots(obj, now=now)
        slots = format_html(
            "<p id='schedule-next-slots'>Next valid routine slots for this window: {}.</p>",
            ", ".join(policy.fmt_local_range(s, e) for s, e in found) or "none in the next weeks",
        )
    return _steps(
        format_html(
            "The window becomes <strong>Scheduled</strong> for {} ({} your time) on {}.",
            policy.fmt_local_range(obj.planned_start, obj.planned_end),
            _local(obj.planned_start),
            _component_list(obj),
        ),
        format_html(
            "The announcement below is published <strong>now</strong> to: {}. {}",
            _channel_list(plan.channels),
            " ".join(plan.reasons),
        ),
        "The public status page lists it under scheduled maintenance; the calendar feed gets it.",
        "The before / during / after checklists are copied from the templates"
        + (f" ({items} items)" if items else "")
        + "; approvers can then approve the “before” items. Start needs all of them.",
        # Routine and urgent refusals are the page's error (no Confirm button); an emergency may override some.
        # (What no justification overrides is the page's error, said once there.)
        refusals=[v for v in _schedule_refusals(obj) if v.rule == "freeze"]
        if obj.type == MaintenanceType.EMERGENCY
        else (),
        refusal_title="The protocol refuses it as it stands; a written justification may override a freeze:",
        extra=format_html(
            "{}<p><strong>Announcement</strong> (the seed's template):</p><pre class='announcement'>{}</pre>",
            slots,
            texts.announcement_text(obj),
        ),
    )


def _describe_start(obj):
    now = timezone.now()
    late = obj.planned_start < now
    return _steps(
        mark_safe("The window becomes <strong>In progress</strong>; its actual start is now."),
        format_html("ETA (estimated completion): {}.", _start_eta(obj, now, late)),
        format_html("The public status page shows <strong>{}</strong> as Under maintenance.", _component_list(obj)),
        format_html("“Under Maintenance” is announced to: {}.", _channel_list(services.window_channels(obj))),
        "The “during” checklist opens; Complete needs all of it.",
        # An emergency may start anyway (with a written justification): say what it starts without.
        refusals=services.start_refusals(obj, now=now) if obj.type == MaintenanceType.EMERGENCY else (),
        refusal_title="Starting now needs a written justification below; open “before” items stay as red debt:",
    )


def _describe_complete(obj):
    return _steps(
        "The window becomes Completed; its actual end is now.",
        format_html(
            "The public status page shows <strong>{}</strong> as Operational again (unless an open incident says otherwise).",
            _component_list(obj),
        ),
        format_html("“Operational” is announced to: {}.", _channel_list(services.window_channels(obj))),
        format_html(
            "The post-maintenance summary (planned vs actual, checklist, runbook runs, incidents) is stored and sent "
            "to: {}.",
            _channel_list(policy.SUMMARY_CHANNELS),
        ),
        "The “after” checklist opens; the window is closed once all of it is done.",
    )


def _describe_cancel(obj):
    if obj.status == WindowStatus.SCHEDULED:
        return _steps(
            "The window becomes Cancelled. This cannot be undone (plan a new window instead).",
            format_html(
                "The cancellation and your reason are announced to: {}.", _channel_list(services.window_channels(obj))
            ),
            "The public status page and the calendar feed mark it cancelled.",
        )
    return _steps("The draft becomes Cancelled. Nothing was announced, so nothing is sent.")


def _start_eta(obj, now, late: bool) -> str:
    if late:
        return f"now + the planned {policy.fmt_duration(obj.planned_duration)} (it starts after its planned start)"
    return policy.fmt_local(obj.eta or obj.planned_end)


def _local(dt) -> str:
    from ersen_ops.core.display import in_local

    return in_local(dt, "D H:i T")


def _schedule_refusals(obj):
    """What the protocol says about scheduling `obj` now (computed once per page: buttons, panel, strip)."""
    if not hasattr(obj, "_schedule_refusals"):
        obj._schedule_refusals = services.schedule_violations(obj, now=timezone.now())
    return obj._schedule_refusals


def _schedule_blocked(obj):
    if obj.status != WindowStatus.DRAFT:
        return ""
    refusals = _schedule_refusals(obj)
    if obj.type == MaintenanceType.EMERGENCY:
        # An emergency may override a freeze with a justification (the confirmation page asks), nothing else.
        refusals = [v for v in refusals if v.rule != "freeze"]
    return " ".join(v.message for v in refusals)


RULE_NAMES = {
    "notice": "notice",
    "slot": "slot",
    "overlap": "overlap",
    "freeze": "freeze",
    "past": "in the past",
    "end_after_start": "end before start",
    "components": "no component",
    "people": "people missing",
}


def _protocol_pointer(obj) -> str:
    """'the protocol refuses it (notice, slot): see “Protocol check” below.' — the full text is said once, there."""
    rules = list(dict.fromkeys(RULE_NAMES.get(v.rule, v.rule) for v in _schedule_refusals(obj)))
    return f"the protocol refuses it ({', '.join(rules)}): see “Protocol check” below."


def _start_blocked(obj):
    if obj.status != WindowStatus.SCHEDULED:
        return ""
    refusals = services.start_refusals(obj, now=timezone.now())
    if not refusals or obj.type == MaintenanceType.EMERGENCY:
        return ""  # emergency: may start at once with a justification (asked on the confirmation page)
    return " ".join(v.message for v in refusals)


def _complete_blocked(obj):
    if obj.status != WindowStatus.IN_PROGRESS:
        return ""
    return " ".join(v.message for v in services.complete_refusals(obj, now=timezone.now()))


TRANSITION = services.PERM_TRANSITION
APPROVE = services.PERM_APPROVE

WINDOW_ACTIONS = [
    WorkflowAction(
        name="schedule",
        label="Schedule",
        permission=TRANSITION,
        perform=_perform_schedule,
        available=lambda o: o.status == WindowStatus.DRAFT and not _schedule_blocked(o),
        unavailable_reason=_schedule_blocked,
        unavailable_summary=lambda o: _protocol_pointer(o) if _schedule_blocked(o) else "",
        form_class=mforms.JustificationForm,
        describe=_describe_schedule,
        css_class="default",
    ),
    WorkflowAction(
        name="start",
        label="Start",
        permission=TRANSITION,
        perform=_perform_start,
        available=lambda o: o.status == WindowStatus.SCHEDULED and not _start_blocked(o),
        unavailable_reason=_start_blocked,
        form_class=mforms.JustificationForm,
        describe=_describe_start,
        touches_production=True,
        reauthenticate=lambda o: o.type == MaintenanceType.EMERGENCY,  # starts at once, outside the protocol
    ),
    WorkflowAction(
        name="update_eta",
        label="Update ETA",
        permission=TRANSITION,
        perform=_perform_eta,
        available=lambda o: o.status == WindowStatus.IN_PROGRESS,
        form_class=mforms.EtaForm,
        describe=lambda o: (
            f"Current ETA: {policy.fmt_local(o.eta)} ({_utc(o.eta)}). "
            f"The change is published to {_channel_list(services.window_channels(o))} and kept in the history."
        ),
    ),
    WorkflowAction(
        name="complete",
        label="Complete",
        permission=TRANSITION,
        perform=_perform_complete,
        available=lambda o: o.status == WindowStatus.IN_PROGRESS and not _complete_blocked(o),
        unavailable_reason=_complete_blocked,
        form_class=mforms.NoFieldsForm,
        describe=_describe_complete,
    ),
    WorkflowAction(
        name="cancel",
        label="Cancel window",
        permission=TRANSITION,
        perform=_perform_cancel,
        available=lambda o: o.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED),
        form_class=mforms.CancelForm,
        describe=_describe_cancel,
        css_class="deletelink",
    ),
]

# Per-item actions: reached from the buttons in the checklist panel (?item= / ?approval=), not the toolbar.
ITEM_ACTIONS = ("approve", "revoke")


def _approve_form(obj, user):
    """The Approve form for this user (the items they can approve now), built once per request."""
    cache = obj.__dict__.setdefault("_approve_forms", {})
    if user.pk not in cache:
        cache[user.pk] = mforms.approve_form_for(obj, user)
    return cache[user.pk]


def _nothing_to_approve(obj, user) -> str:
    if obj.status == WindowStatus.CANCELLED:
        return final("The window is cancelled; its checklist is history.")
    if obj.status == WindowStatus.DRAFT:
        return "The checklist is created when the window is scheduled."
    if obj.closed_at:
        return final("The window is closed; its checklist is history.")
    return (
        "Nothing you can approve now: every item open in this state is done, already approved by you, "
        "or needs something first (see the checklist)."
    )


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

    WINDOW_FIELDS = (
        "title",
        "type",
        "planned_start",
        "planned_end",
        "components",
        "impact",
        "reason",
        "rollback_plan",
        "owner",
        "on_call_engineer",
    )
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
                policy.fmt_local(obj.eta, "%H:%M %Z"),
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
        sent = [d for d in selectors.window_deliveries(obj) if d.event == "maintenance.summary"]
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
                available=lambda o: o.status != WindowStatus.CANCELLED and o.closed_at is None,
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
        from django.urls import reverse

        now = timezone.now()
        can_approve = request.user.has_perm(APPROVE)
        base = reverse("admin:maintenance_maintenancewindow_workflow", args=[obj.pk, "approve"])
        revoke = reverse("admin:maintenance_maintenancewindow_workflow", args=[obj.pk, "revoke"])
        phases = []
        role_refusal = ""
        on_call_url = reverse("admin:maintenance_maintenancewindow_on_call", args=[obj.pk])
        site_phase = services.current_phase()
        for phase, label, items in selectors.checklist_by_phase(obj):
            rows = []
            phase_closed = ""
            for item in items:
                approvals = list(item.approvals.all())
                row = {
                    "item": item,
                    "approvals": approvals,
                    "approve_url": "",
                    "confirm_url": "",
                    "refusal": "",
                    "needs": services.item_requirements(obj, item, request.user, phase=site_phase),
                    "revoke_url": revoke,
                    "debt": phase == ChecklistPhase.BEFORE
                    and not item.done_at
                    and obj.status in (WindowStatus.IN_PROGRESS, WindowStatus.COMPLETED),
                }
                if not item.done_at:
                    refusals = services.approval_refusals(obj, item, request.user, phase=site_phase)
                    if refusals and refusals[0].rule == "state":
                        phase_closed = "yes"  # said once at the phase's heading
                    elif refusals and refusals[0].rule == "role":
                        role_refusal = refusals[0].message  # said once above the checklists
                    elif refusals:
                        row["refusal"] = " ".join(v.message for v in refusals)
                    elif item.key == ItemKey.ON_CALL_CONFIRMED:
                        row["confirm_url"] = on_call_url
                    else:
                        row["approve_url"] = f"{base}?item={item.pk}"
                rows.append(row)
            done = sum(1 for i in items if i.done_at)
            phases.append(
                {
                    "phase": phase,
                    "label": label,
                    "rows": rows,
                    "done": done,
                    "total": len(items),
                    "closed_reason": _phase_closed_reason(phase, obj) if phase_closed else "",
                }
            )
        slots = []
        if obj.type == MaintenanceType.ROUTINE and obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED):
            slots = services.valid_slots(obj, now=now)  # the same check as scheduling: never a taken slot
        policy_check = []
        if obj.status == WindowStatus.DRAFT:
            policy_check = _schedule_refusals(obj)
        runs, links = _runbooks(request, obj)
        return {
            "strip": _strip(obj, now),
            "runbook_runs": runs,
            "runbook_links": links,
            "announcement": obj.announcement or texts.announcement_text(obj),
            "announcement_published": bool(obj.announcement),
            "channels": _channel_list(services.window_channels(obj)),
            "channel_reasons": policy.channels_for(
                obj.type, obj.scheduled_phase or services.current_phase(), obj.planned_duration
            ).reasons,
            "next_slots": [_slot(s, e, obj) for s, e in slots],
            "slots_offered": obj.type == MaintenanceType.ROUTINE
            and obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED),
            "slots_pickable": obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED)
            and self.has_change_permission(request, obj),
            "policy_check": policy_check,
            "policy_checked": obj.status == WindowStatus.DRAFT,
            "phases": phases,
            "can_approve": can_approve,
            "approve_role_refusal": role_refusal,
            "can_revoke_any": request.user.is_superuser,
            "eta_changes": list(obj.eta_changes.all()),
            "overdue": obj.is_overdue(now),
            "overdue_by": policy.fmt_duration(now - obj.eta) if obj.is_overdue(now) else "",
        }

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


def _phase_closed_reason(phase, obj) -> str:
    """'Approvable while the window is in progress (it is scheduled).' — said once per phase, not on every item."""
    allowed = " or ".join(WindowStatus(s).label.lower() for s in policy.APPROVABLE_IN[phase])
    state = "closed" if obj.closed_at else obj.get_status_display().lower()
    return f"Approvable while the window is {allowed} (it is {state})."


def _runbooks(request, obj) -> tuple[list[dict], list[dict]]:
    """The window's runbook executions, and Run buttons (runbooks app) while the window is scheduled or running."""
    try:
        from runbooks import selectors as runbook_selectors
        from runbooks.choices import STATUS_COLOURS as RUN_COLOURS
    except ImportError:  # pragma: no cover - the runbooks app is optional here
        return [], []
    from django.urls import reverse

    runs = []
    if request.user.has_perm("runbooks.view_runbookexecution"):
        runs = [
            {
                "execution": e,
                "url": reverse("admin:runbooks_runbookexecution_change", args=[e.pk]),
                "badge": status_badge(e.status, e.get_status_display(), RUN_COLOURS),
            }
            for e in runbook_selectors.executions_for_window(obj).order_by("-requested_at", "-id")
        ]
    links = []
    if request.user.has_perm("runbooks.run_runbook") and obj.status in (
        WindowStatus.SCHEDULED,
        WindowStatus.IN_PROGRESS,
    ):
        links = runbook_selectors.runbook_launch_links_for_window(obj)
    return runs, links


def _slot(start, slot_end, obj) -> dict:
    """A next valid routine slot, with the values "Use this slot" types into the form (the operator's zone,
    which is the zone the admin's date/time inputs are in), keeping the window's duration inside the slot."""
    duration = obj.planned_duration or (slot_end - start)
    end = min(start + duration, slot_end)
    local_start, local_end = timezone.localtime(start), timezone.localtime(end)
    return {
        "pacific": policy.fmt_local_range(start, end),
        "utc": _utc(start),
        "start_date": f"{local_start:%Y-%m-%d}",
        "start_time": f"{local_start:%H:%M:%S}",
        "end_date": f"{local_end:%Y-%m-%d}",
        "end_time": f"{local_end:%H:%M:%S}",
        "range": policy.fmt_local_range(start, end),
    }


def _strip(obj, now) -> dict:
    """The window at a glance (the top of its page): when in Pacific, the operator's zone and UTC; how long until."""
    from ersen_ops.core.display import duration, in_local, operator_zone_differs

    start, end = obj.planned_start, obj.planned_end
    relative, late = "", False
    if obj.status == WindowStatus.SCHEDULED:
        late = start <= now
        relative = f"start was due {duration(now - start)} ago" if late else f"starts in {duration(start - now)}"
    elif obj.status == WindowStatus.DRAFT:
        relative = "not announced (draft)" + (
            f" · planned in {duration(start - now)}" if start > now else " · planned start has passed"
        )
    elif obj.status == WindowStatus.IN_PROGRESS and obj.actual_start:
        relative = f"running for {duration(now - obj.actual_start)}"
    return {
        "type_badge": status_badge(obj.type, obj.get_type_display().split(" (")[0], TYPE_COLOURS),
        "status_badge": status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS),
        "when": policy.fmt_local_range(start, end),
        "local_when": f"{in_local(start, 'D H:i')}–{in_local(end, 'H:i T')}" if operator_zone_differs() else "",
        "utc_when": f"{_utc(start)}",
        "relative": relative,
        "late": late,
        "components": ", ".join(c.name for c in obj.components.all()),
        "month": policy.fmt_local(start, "%Y-%m"),
    }


def _utc(dt):
    from ersen_ops.core.display import in_utc

    return in_utc(dt)


# --- freezes and checklist templates ----------------------------------------------------------------------


class FreezeWhenFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("now", "In force now"), ("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(start__lte=now, end__gt=now)
        if self.value() == "upcoming":
            return queryset.filter(start__gt=now)
        if self.value() == "past":
            return queryset.filter(end__lte=now)
        return queryset


@admin.register(FreezePeriod)
class FreezePeriodAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "start_column", "end_column", "reason")
    list_filter = (FreezeWhenFilter,)
    search_fields = ("name", "reason")
    date_hierarchy = "start"
    fields = ("name", "start", "end", "reason", "audit_history")
    readonly_fields = ("audit_history",)
    ordering = ("-start",)

    @admin.display(description="Start (Pacific / UTC)", ordering="start")
    def start_column(self, obj):
        return both_zones(obj.start)

    @admin.display(description="End (Pacific / UTC)", ordering="end")
    def end_column(self, obj):
        return both_zones(obj.end)

    def save_model(self, request, obj, form, change):
        inside = services.freeze_save(actor=request.user, freeze=obj)
        if inside:
            messages.warning(
                request,
                f"{len(inside)} scheduled window(s) already fall inside “{obj}”: "
                + "; ".join(f"{w} ({policy.fmt_local(w.planned_start)})" for w in inside)
                + ". Reschedule or cancel them.",
            )

    def delete_model(self, request, obj):
        services.freeze_delete(actor=request.user, freeze=obj)

    def delete_queryset(self, request, queryset):
        for freeze in queryset:
            services.freeze_delete(actor=request.user, freeze=freeze)


class ChecklistTemplateItemInline(admin.TabularInline):
    model = ChecklistTemplateItem
    extra = 0
    fields = ("order", "text", "key", "required_approvals")


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("title", "phase", "item_count")
    list_filter = ("phase",)
    search_fields = ("title", "items__text")
    fields = ("phase", "title", "audit_history")
    readonly_fields = ("audit_history",)
    inlines = [ChecklistTemplateItemInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(items_count=Count("items"))

    @admin.display(description="Items")
    def item_count(self, obj):
        return obj.items_count

    def has_delete_permission(self, request, obj=None):
        return False  # every phase keeps a checklist

    def save_model(self, request, obj, form, change):
        # Snapshot before the change; the audit event is written once the inline items are saved too.
        request._checklist_template_before = services.checklist_template_snapshot(
            ChecklistTemplate.objects.filter(pk=obj.pk).first() if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.checklist_template_record_change(
            actor=request.user, template=form.instance, before=getattr(request, "_checklist_template_before", {})
        )
