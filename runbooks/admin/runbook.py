"""The runbook admin: steps validated on save, the "Run" button, the latest run of each runbook."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import status_badge
from runbooks import selectors, services
from runbooks.admin.run_form import (
    PARAM_PREFIX,
    GroupRunForm,
    RunForm,
    _group_describe,
    _group_initial,
    _group_perform,
    _run_describe,
    _run_initial,
    _run_perform,
    _run_preview_with_values,
    run_form_for,
)
from runbooks.admin.steps import RunbookStepInline
from runbooks.choices import STATUS_COLOURS, ExecutionStatus
from runbooks.models import Runbook, RunbookExecution


def _latest_status():
    return RunbookExecution.objects.filter(runbook=OuterRef("pk")).order_by("-requested_at", "-id").values("status")[:1]


@admin.register(Runbook)
class RunbookAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "step_count", "default_host_role", "enabled", "last_run")
    list_filter = ("enabled", "default_host_role")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RunbookStepInline]
    readonly_fields = ("audit_history",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "default_host_role", "enabled")}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )
    workflow_actions = [
        WorkflowAction(
            name="run",
            label="Run",
            permission="runbooks.run_runbook",
            perform=_run_perform,
            form_class=RunForm,
            initial=_run_initial,
            describe=_run_describe,
            available=lambda rb: rb.enabled,
            unavailable_reason=lambda rb: "" if rb.enabled else "This runbook is disabled.",
            touches_production=True,
            extra={"rerender": "Show the commands for these values"},
            reauthenticate=selectors.runbook_changes_a_host,  # unlock, restart, … (the library's `disruptive`)
        ),
        WorkflowAction(
            name="run_group",
            label="Run on a host group",
            permission="runbooks.run_runbook",
            perform=_group_perform,
            form_class=GroupRunForm,
            initial=_group_initial,
            describe=_group_describe,
            available=lambda rb: rb.enabled,
            unavailable_reason=lambda rb: "" if rb.enabled else "This runbook is disabled.",
            touches_production=True,
            reauthenticate=selectors.runbook_changes_a_host,
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_steps=Count("steps"), _last_status=Subquery(_latest_status()))

    def get_workflow_actions(self, request, obj):
        if obj is None:
            return super().get_workflow_actions(request, obj)
        obj._request = request  # the Run page previews the host chosen in the request
        return [
            replace(a, form_class=lambda *args, **kwargs: run_form_for(obj)(*args, **kwargs)) if a.name == "run" else a
            for a in super().get_workflow_actions(request, obj)
        ]

    def workflow_view(self, request, object_id, action):
        if action == "run_group" and request.method == "POST":
            response = super().workflow_view(request, object_id, action)
            url = getattr(request, "_runbook_execution_url", None)
            if url and isinstance(response, HttpResponseRedirect):
                return HttpResponseRedirect(url)  # straight to the live group run page
            return response
        if action == "run" and request.method == "POST" and "_rerender" in request.POST:
            # "Show the commands for these values": nothing runs; the Run page again, for the typed values.
            keep = ("host", "window")
            query = {k: v for k, v in request.POST.items() if k in keep or k.startswith(PARAM_PREFIX)}
            return HttpResponseRedirect(f"{request.path}?{urlencode(query)}")
        response = super().workflow_view(request, object_id, action)
        url = getattr(request, "_runbook_execution_url", None)
        if url and isinstance(response, HttpResponseRedirect):
            return HttpResponseRedirect(url)  # straight to the live execution page
        if action == "run" and request.method == "POST" and hasattr(response, "context_data"):
            # Refused (e.g. the values changed since review): the page now shows the commands for the posted
            # values, so a second Confirm confirms what is on screen.
            form = response.context_data.get("form")
            preview = _run_preview_with_values(response.context_data["original"])[0]
            if form is not None and preview is not None:
                form.data = form.data.copy()
                form.data["digest"] = preview.digest
        return response

    @admin.display(description="steps", ordering="_steps")
    def step_count(self, obj):
        return obj._steps

    def get_list_display(self, request):
        display = super().get_list_display(request)
        if request.user.has_perm("runbooks.run_runbook"):
            display = (*display, "run_link")  # the Run page first shows the target and the exact commands
        return display

    @admin.display(description="")
    def run_link(self, obj):
        if not obj.enabled:
            return ""
        return format_html(
            '<a class="button" href="{}">Run…</a> <a class="button" href="{}">Run on a host group…</a>',
            reverse("admin:runbooks_runbook_workflow", args=[obj.pk, "run"]),
            reverse("admin:runbooks_runbook_workflow", args=[obj.pk, "run_group"]),
        )

    @admin.display(description="last run")
    def last_run(self, obj):
        if not obj._last_status:
            return "—"
        return status_badge(obj._last_status, ExecutionStatus(obj._last_status).label, STATUS_COLOURS)

    def save_model(self, request, obj, form, change):
        request._runbook_before = services.runbook_state(Runbook.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.runbook_record_change(
            actor=request.user,
            runbook=form.instance,
            before=getattr(request, "_runbook_before", {}),
            created=not change,
        )
