"""The execution admin: a read-only record with live output, Cancel and Retry."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_lists import LargeListAdminMixin
from ersen_ops.core.admin_readonly import RecordAdminMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from runbooks import library, policy, selectors, services
from runbooks.choices import RETRYABLE_STATUSES, STATUS_COLOURS, STEP_COLOURS, ExecutionStatus
from runbooks.models import ExecutionStep, RunbookExecution


class CancelForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class RetryForm(forms.Form):
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Required post-launch outside an in-progress window of the host's components.",
    )


def _cancel_perform(request, execution, data):
    result = services.execution_cancel(actor=request.user, execution=execution, reason=data.get("reason", ""))
    if result.status == ExecutionStatus.CANCELLED:
        return f"Execution #{result.pk} was cancelled before it started."
    return f"Cancellation of #{result.pk} requested: the worker stops the remote command within seconds."


def _retry_perform(request, execution, data):
    new = services.execution_retry(actor=request.user, execution=execution, justification=data.get("justification", ""))
    request._runbook_execution_url = reverse("admin:runbooks_runbookexecution_change", args=[new.pk])
    return f"Execution #{new.pk} retries #{execution.pk}; it is queued."


def _retry_describe(execution):
    commands = []
    for step in execution.plan:
        try:
            commands += library.plan_commands(step["task"], step["params"])
        except DomainError as exc:
            commands.append(f"(refused: {exc})")
    return format_html(
        "A new execution of the same plan on <strong>{}</strong> (<code>{}</code>), linked to #{}:<ol>{}</ol>",
        execution.host.name,
        execution.host.address,
        execution.pk,
        format_html_join("", "<li><code>{}</code></li>", ((c,) for c in commands)),
    )


@admin.register(RunbookExecution)
class RunbookExecutionAdmin(RecordAdminMixin, LargeListAdminMixin, WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    change_form_template = "admin/runbooks/runbookexecution/change_form.html"
    list_display = (
        "id",
        "runbook_name",
        "host",
        "status_column",
        "requested_by_name",
        "requested_column",
        "duration_column",
        "window",
        "flagged",
    )
    list_filter = ("status", "outside_window", "requested_via", "host", "runbook")
    search_fields = ("runbook_name", "requested_by_name", "error", "task_id")
    # One trigram index of exactly this text on PostgreSQL (migration runbooks, "search").
    search_expression = "upper(runbook_name || ' ' || requested_by_name || ' ' || error || ' ' || task_id)"
    exact_search_fields = ("id",)
    list_per_page = 50
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status_column",
                    "runbook",
                    "host_column",
                    "window",
                    "retry_of",
                    "group_run_column",
                    "requested_by_name",
                    "requested_via",
                    "requested_column",
                )
            },
        ),
        (
            "Run",
            {
                "fields": (
                    "started_column",
                    "finished_column",
                    "duration_column",
                    "heartbeat_column",
                    "worker",
                    "task_id",
                )
            },
        ),
        ("Outcome", {"fields": ("error", "result_pretty", "alert_column")}),
        ("Window rule", {"fields": ("outside_window_column", "justification")}),
        ("Cancellation", {"fields": ("cancel_requested_at", "cancel_requested_by_name", "cancel_reason")}),
        ("Plan (snapshot taken at launch)", {"fields": ("plan_pretty",), "classes": ("collapse",)}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "status_column",
        "runbook",
        "host_column",
        "window",
        "retry_of",
        "group_run_column",
        "requested_by_name",
        "requested_via",
        "requested_column",
        "started_column",
        "finished_column",
        "duration_column",
        "heartbeat_column",
        "worker",
        "task_id",
        "error",
        "result_pretty",
        "alert_column",
        "outside_window_column",
        "justification",
        "cancel_requested_at",
        "cancel_requested_by_name",
        "cancel_reason",
        "plan_pretty",
        "audit_history",
    )

    @admin.display(description="failure alert")
    def alert_column(self, obj):
        """What the failure alert to Slack came to, from its delivery's real status."""
        from ersen_ops.notifications import outcomes
        from ersen_ops.notifications.selectors import deliveries_for

        if obj is None or obj.pk is None:
            return "—"
        alerts = list(deliveries_for(obj))
        if not alerts:
            return "—"
        return outcomes.describe_deliveries(alerts)

    workflow_actions = [
        WorkflowAction(
            name="cancel",
            label="Cancel",
            permission="runbooks.cancel_runbookexecution",
            perform=_cancel_perform,
            form_class=CancelForm,
            available=lambda e: (
                e.status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING) and not e.cancel_requested_at
            ),
            describe=lambda e: (
                "The queued run ends now; nothing runs."
                if e.status == ExecutionStatus.QUEUED
                else "The worker stops the command on the host (pkill of its process group) and ends the run as cancelled."
            ),
            touches_production=True,
            css_class="deletelink",
        ),
        WorkflowAction(
            name="retry",
            label="Retry",
            permission="runbooks.run_runbook",
            perform=_retry_perform,
            form_class=RetryForm,
            available=lambda e: e.status in RETRYABLE_STATUSES,
            describe=_retry_describe,
            touches_production=True,
            reauthenticate=lambda e: policy.plan_is_disruptive(e.plan or []),
        ),
    ]

    def get_queryset(self, request):
        return selectors.execution_list()

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/output.json",
                self.admin_site.admin_view(self.output_view),
                name="runbooks_runbookexecution_output",
            ),
        ]
        return custom + super().get_urls()

    def output_view(self, request, object_id):
        """The JSON the execution page polls (login and view permission required; GET only, changes nothing)."""
        if request.method != "GET":
            raise PermissionDenied("GET only.")
        if not self.has_view_permission(request):
            raise PermissionDenied("Your role does not include viewing runbook executions.")
        execution = get_object_or_404(self.get_queryset(request), pk=object_id)
        payload = selectors.execution_payload(execution)
        payload["steps_total_planned"] = len(execution.plan)
        # The page's own fields, formatted as on a reload (zones included), so everything on it is live.
        payload["fields"] = {
            "status_column": str(self.status_column(execution)),
            "started_column": str(self.started_column(execution)),
            "finished_column": str(self.finished_column(execution)),
            "duration_column": str(self.duration_column(execution)),
            "heartbeat_column": str(self.heartbeat_column(execution)),
            "worker": escape(execution.worker) or "-",
        }
        return JsonResponse(payload)

    def workflow_view(self, request, object_id, action):
        response = super().workflow_view(request, object_id, action)
        url = getattr(request, "_runbook_execution_url", None)
        if url and isinstance(response, HttpResponseRedirect):
            return HttpResponseRedirect(url)
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            steps = list(ExecutionStep.objects.filter(execution=obj).order_by("order"))
            for step in steps:
                step.badge = status_badge(step.status, step.get_status_display(), STEP_COLOURS)
            context["steps"] = steps
            context["status_badge"] = status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS)
            context["output_url"] = reverse("admin:runbooks_runbookexecution_output", args=[obj.pk])
            context["waiting"] = selectors.execution_waiting_message(obj)
            context["is_final"] = obj.status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="status", ordering="status")
    def status_column(self, obj):
        badge = status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS)
        if obj.status == ExecutionStatus.QUEUED:
            waiting = getattr(obj, "waiting_for_id", None)
            text = f"waiting for execution #{waiting} on this host" if waiting else "waiting for a worker"
            return format_html("{} <small>{}</small>", badge, text)
        if obj.status == ExecutionStatus.RUNNING and obj.cancel_requested_at:
            return format_html("{} <small>cancel requested</small>", badge)
        return badge

    @admin.display(description="run on a host group")
    def group_run_column(self, obj):
        if not obj.group_run_id:
            return "—"
        return format_html(
            '<a href="{}">Group run #{}</a>, batch {}',
            reverse("admin:runbooks_grouprun_change", args=[obj.group_run_id]),
            obj.group_run_id,
            obj.batch,
        )

    @admin.display(description="host")
    def host_column(self, obj):
        snap = obj.host_snapshot or {}
        return format_html(
            "{} <code>{}@{}:{}</code> key <code>{}</code>",
            snap.get("name"),
            snap.get("user"),
            snap.get("hostname"),
            snap.get("port"),
            snap.get("host_key_fingerprint") or "—",
        )

    @admin.display(description="requested", ordering="requested_at")
    def requested_column(self, obj):
        return both_zones(obj.requested_at)

    @admin.display(description="started")
    def started_column(self, obj):
        return both_zones(obj.started_at)

    @admin.display(description="finished")
    def finished_column(self, obj):
        return both_zones(obj.finished_at)

    @admin.display(description="duration")
    def duration_column(self, obj):
        duration = obj.duration
        if duration:
            return f"{duration.total_seconds():.1f} s"
        if obj.status == ExecutionStatus.RUNNING and obj.started_at:
            from django.utils import timezone

            return f"running for {(timezone.now() - obj.started_at).total_seconds():.0f} s"
        return "—"

    @admin.display(description="outside window", boolean=True, ordering="outside_window")
    def flagged(self, obj):
        return obj.outside_window

    @admin.display(description="last heartbeat")
    def heartbeat_column(self, obj):
        return both_zones(obj.heartbeat_at)

    @admin.display(description="outside a window?")
    def outside_window_column(self, obj):
        # Words, not a red ✗ icon: "not outside" is the good case and must not look like an error.
        if obj.outside_window:
            return format_html(
                '<strong class="overdue">{}</strong>',
                "Yes — flagged: run post-launch outside an in-progress window of the host's components",
            )
        return "No"

    @admin.display(description="result")
    def result_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.result, indent=2, ensure_ascii=False)) if obj.result else "—"

    @admin.display(description="plan")
    def plan_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.plan, indent=2, ensure_ascii=False))
