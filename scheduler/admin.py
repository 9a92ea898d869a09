"""The scheduler in the admin ("Scheduler" section): schedules (next run in the operator's zone and Pacific, last
outcome; a schedule's page shows the next 10 occurrences and the history), the occurrences list, and the global pause
switch ("Pause all schedules" / "Resume all schedules", with a reason). Every change goes through the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_readonly import RecordAdminMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import local_and_pacific_text, status_badge
from ersen_ops.core.errors import DomainError

from . import selectors, services
from .choices import OUTCOME_COLOURS, Outcome
from .models import Occurrence, Schedule, SchedulerSwitch


def _when(dt) -> str:
    return local_and_pacific_text(dt) if dt else "—"


def _execution_link(execution_id, group_run_id=None) -> str:
    if group_run_id:
        return format_html(
            '<a href="{}">group run #{}</a>',
            reverse("admin:runbooks_grouprun_change", args=[group_run_id]),
            group_run_id,
        )
    if not execution_id:
        return "—"
    return format_html(
        '<a href="{}">execution #{}</a>',
        reverse("admin:runbooks_runbookexecution_change", args=[execution_id]),
        execution_id,
    )


class ScheduleForm(forms.ModelForm):
    skip_dates_text = forms.CharField(
        label="Skip dates",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 20}),
        help_text="One date per line (YYYY-MM-DD, the team's zone): the schedule does not run on these days.",
    )

    class Meta:
        model = Schedule
        fields = (
            "name",
            "runbook",
            "host",
            "host_group",
            "overrides",
            "cron",
            "enabled",
            "catch_up",
            "batch_size",
            "max_failures",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["skip_dates_text"].initial = "\n".join(self.instance.skip_dates or [])

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        instance = self.instance
        for name in self.Meta.fields:
            if name in cleaned:
                setattr(instance, name, cleaned[name])
        instance.skip_dates = [line for line in (cleaned.get("skip_dates_text") or "").splitlines() if line.strip()]
        try:
            services.schedule_validate(instance)
        except DomainError as exc:
            raise forms.ValidationError([str(exc), *getattr(exc, "details", [])]) from None
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "runbook", "target", "cron", "enabled", "next_run", "last_outcome")
    list_filter = ("enabled", "catch_up", "runbook")
    search_fields = ("name", "runbook__name", "host__name", "host_group__name")
    readonly_fields = ("next_occurrences", "history", "evaluated_until", "created", "updated", "audit_history")
    fieldsets = (
        (None, {"fields": ("name", "runbook", "host", "host_group", "overrides", "enabled")}),
        (
            "When (the team's zone, OPS_MAINTENANCE_TZ)",
            {"fields": ("cron", "skip_dates_text", "catch_up", "next_occurrences")},
        ),
        ("Host group targets", {"fields": ("batch_size", "max_failures")}),
        ("History", {"fields": ("history", "evaluated_until", "created", "updated")}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return selectors.schedule_list()

    @admin.display(description="target")
    def target(self, obj):
        return obj.target_name or "—"

    @admin.display(description="next run")
    def next_run(self, obj):
        return _when(selectors.next_run(obj)) if obj.enabled else "disabled"

    @admin.display(description="last outcome", ordering="last_due_at")
    def last_outcome(self, obj):
        if not getattr(obj, "last_outcome", None):
            return "—"
        label = Outcome(obj.last_outcome).label
        return format_html(
            "{} {} {}",
            status_badge(obj.last_outcome, label, OUTCOME_COLOURS),
            _when(obj.last_due_at),
            _execution_link(obj.last_execution_id, obj.last_group_run_id),
        )

    @admin.display(description="next 10 occurrences")
    def next_occurrences(self, obj):
        if obj is None or obj.pk is None:
            return "Shown once the schedule is saved."
        if not obj.enabled:
            return "Disabled: no occurrences."
        rows = selectors.upcoming(obj)
        if not rows:
            return "None in the next four years."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (
                    _when(r.due_at),
                    format_html("<strong>would be skipped</strong>: {}", r.would_skip)
                    if r.would_skip
                    else "runs (the window rule is decided when it is due)",
                )
                for r in rows
            ),
        )
        return format_html("<table><tr><th>due</th><th>as known now</th></tr>{}</table>", body)

    @admin.display(description="occurrences (newest first)")
    def history(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        rows = selectors.history(obj)
        if not rows:
            return "None yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _when(o.due_at),
                    status_badge(o.outcome, o.get_outcome_display(), OUTCOME_COLOURS),
                    " (catch-up)" if o.catch_up else "",
                    o.reason or "—",
                    _execution_link(o.execution_id, o.group_run_id),
                )
                for o in rows
            ),
        )
        more = reverse("admin:scheduler_occurrence_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html(
            "<table><tr><th>due</th><th>outcome</th><th>why</th><th>run</th></tr>{}</table>"
            '<p><a href="{}">All occurrences of this schedule</a></p>',
            body,
            more,
        )

    @admin.display(description="created")
    def created(self, obj):
        return f"{_when(obj.created_at)} by {obj.created_by_name}" if obj and obj.pk else "—"

    @admin.display(description="updated")
    def updated(self, obj):
        return f"{_when(obj.updated_at)} by {obj.updated_by_name}" if obj and obj.pk else "—"

    def save_model(self, request, obj, form, change):
        try:
            services.schedule_save(actor=request.user, schedule=obj, request=request)
        except DomainError as exc:
            raise PermissionDenied(str(exc)) from None

    def delete_model(self, request, obj):
        try:
            services.schedule_delete(actor=request.user, schedule=obj, request=request)
        except DomainError as exc:
            raise PermissionDenied(str(exc)) from None

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            self.delete_model(request, schedule)


@admin.register(Occurrence)
class OccurrenceAdmin(RecordAdminMixin, admin.ModelAdmin):
    """Read-only: occurrences are records the tick writes."""

    list_display = ("due", "schedule_link", "outcome_badge", "catch_up", "reason", "run", "recorded_at")
    list_filter = ("outcome", "catch_up", "schedule")
    search_fields = ("schedule__name", "reason")
    date_hierarchy = "due_at"
    list_per_page = 100

    def get_queryset(self, request):
        return selectors.occurrence_list()

    @admin.display(description="due", ordering="due_at")
    def due(self, obj):
        return _when(obj.due_at)

    @admin.display(description="schedule", ordering="schedule__name")
    def schedule_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:scheduler_schedule_change", args=[obj.schedule_id]), obj.schedule.name
        )

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj):
        return status_badge(obj.outcome, obj.get_outcome_display(), OUTCOME_COLOURS)

    @admin.display(description="run")
    def run(self, obj):
        return _execution_link(obj.execution_id, obj.group_run_id)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=services.MIN_PAUSE_REASON_CHARS,
        help_text="Why: kept on the switch and in the audit log.",
    )


def _pause(request, obj, data):
    services.scheduler_pause(actor=request.user, reason=data["reason"], request=request)
    return "All schedules are paused: due occurrences are recorded as skipped until you resume."


def _resume(request, obj, data):
    services.scheduler_resume(actor=request.user, reason=data["reason"], request=request)
    return "Schedules resume: due times from now on run again (the paused ones stay skipped)."


@admin.register(SchedulerSwitch)
class SchedulerSwitchAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    workflow_actions = [
        WorkflowAction(
            name="pause",
            label="Pause all schedules",
            permission="scheduler.pause_schedules",
            perform=_pause,
            available=lambda obj: not obj.paused,
            form_class=ReasonForm,
            describe=lambda obj: (
                "Every schedule stops: each due occurrence is recorded as skipped “all schedules "
                "paused by you”, not missed, and is not caught up after the resume."
            ),
            css_class="deletelink",
        ),
        WorkflowAction(
            name="resume",
            label="Resume all schedules",
            permission="scheduler.pause_schedules",
            perform=_resume,
            available=lambda obj: obj.paused,
            form_class=ReasonForm,
            describe=lambda obj: "Schedules run again from their next due time.",
        ),
    ]
    fields = ("state", "paused_at", "paused_by_name", "reason", "audit_history")
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj):
        return str(obj)

    def changelist_view(self, request, extra_context=None):
        switch = services.switch_get()
        return HttpResponseRedirect(reverse("admin:scheduler_schedulerswitch_change", args=[switch.pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
