"""Admin for hosts (with "Fetch and pin host key"), runbooks (steps validated on save, "Run" showing the exact
commands first) and executions (read-only record, live output, Cancel and Retry).

Every change goes through `runbooks.services`; buttons use WorkflowAdminMixin (GET confirms, POST performs,
permission checked in the view).
"""

from __future__ import annotations

import json
from dataclasses import replace

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from ersen_ops.core.people import person_link
from runbooks import library, policy, selectors, services
from runbooks.choices import RETRYABLE_STATUSES, STATUS_COLOURS, STEP_COLOURS, ExecutionStatus, LaunchChannel
from runbooks.models import ExecutionStep, Host, Runbook, RunbookExecution, RunbookStep

BR = mark_safe("<br>")  # format_html_join escapes its separator

# --------------------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------------------


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
            "components",
            "parameter_defaults",
            "notes",
        )

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
    list_display = ("name", "address", "roles", "enabled", "component_names", "pinned_key", "pinned_by")
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
        (None, {"fields": ("name", "hostname", "port", "ssh_user", "roles", "enabled", "components")}),
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


# --------------------------------------------------------------------------------------------------------
# Runbooks
# --------------------------------------------------------------------------------------------------------


class RunbookStepForm(forms.ModelForm):
    task = forms.ChoiceField(choices=library.task_choices)

    class Meta:
        model = RunbookStep
        fields = ("order", "task", "params", "timeout_seconds")
        widgets = {"params": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("task") or data.get("DELETE"):
            return data
        try:
            policy.validate_step(
                task=data["task"],
                params=data.get("params") or {},
                timeout_seconds=data.get("timeout_seconds"),
                max_timeout=selectors.max_step_timeout(),
            )
        except DomainError as exc:
            raise ValidationError(str(exc)) from None
        return data


class RunbookStepFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        live = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not live:
            raise ValidationError("A runbook needs at least one step.")
        orders = [f.cleaned_data.get("order") for f in live]
        if len(set(orders)) != len(orders):
            raise ValidationError("Two steps have the same order number.")


class RunbookStepInline(admin.TabularInline):
    model = RunbookStep
    form = RunbookStepForm
    formset = RunbookStepFormSet
    extra = 0
    ordering = ("order",)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        help_rows = []
        for task in library.REGISTRY.values():
            params = ", ".join(f"{p.name} (default {p.default_value()!r})" for p in task.params)
            help_rows.append(f"{task.name}: {params}")
        formset.form.base_fields["params"].help_text = " | ".join(help_rows)
        return formset


class RunForm(forms.Form):
    host = forms.IntegerField(widget=forms.HiddenInput, label="")
    window = forms.IntegerField(widget=forms.HiddenInput, required=False, label="")
    digest = forms.CharField(widget=forms.HiddenInput, label="")
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Required, as the window rule above says; kept with the run, which is flagged.",
    )

    # The parameter fields (param__<name>) are added per runbook by run_form_for().


PARAM_PREFIX = "param__"


def _param_field(param, task_label: str, resolved: str) -> forms.Field:
    """A typed field for one task parameter, validated by the library's own allow-list (Param.check)."""
    from runbooks import library

    default = param.default_value()
    help_parts = [param.help, f"Allowed: {param.rule}."]
    help_parts.append(f"Task default: {default!r}." if default not in (None, "") else "Task default: empty.")
    if resolved != default:
        help_parts.append(f"This runbook and host use {resolved!r}.")
    common = {
        "required": False,
        "initial": resolved,
        "label": param.name,
        "help_text": " ".join(p for p in help_parts if p),
    }
    if param.pattern == library.YES_NO[0]:
        field = forms.ChoiceField(choices=[("yes", "yes"), ("no", "no")], **common)
    elif param.pattern == library.NUMBER[0]:
        field = forms.IntegerField(min_value=param.min_value, max_value=param.max_value, **common)
    elif param.multiline:
        field = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), strip=True, **common)
    else:
        field = forms.CharField(strip=True, max_length=500, widget=forms.TextInput(attrs={"size": 60}), **common)

    def check(value):
        if value in (None, ""):
            return
        try:
            param.check(str(value), task_label)
        except library.ParameterRefused as exc:
            raise forms.ValidationError(str(exc)) from None

    field.validators.append(check)
    return field


def run_form_for(runbook) -> type[RunForm]:
    """The Run form of this runbook: one typed field per parameter its steps declare, showing the value this run
    would use; only changed values are sent as overrides (to every step that declares the parameter)."""
    from runbooks import library

    preview = _run_preview(runbook)[0]
    resolved = {}
    if preview is not None:
        for step in preview.plan:
            for name, value in step["params"].items():
                resolved.setdefault(name, value)
    fields = {}
    for step in selectors.runbook_steps(runbook):
        spec = library.get_task(step["task"])
        for param in spec.params:
            field_name = PARAM_PREFIX + param.name
            if field_name not in fields:
                value = resolved.get(param.name, param.default_value() or "")
                fields[field_name] = _param_field(param, spec.label, str(value))
    form_class = type("RunbookRunForm", (RunForm,), fields)
    if preview is not None and not preview.verdict.needs_justification:
        # The window rule above says no justification is needed: don't ask for one.
        form_class.base_fields.pop("justification", None)
    return form_class


def _query_overrides(runbook) -> dict:
    """Parameter values from the Run page's query string or form (?param__database=…), as typed by the operator."""
    request = runbook._request
    source = request.POST if request.method == "POST" else request.GET
    return {
        key.removeprefix(PARAM_PREFIX): value.strip()
        for key, value in source.items()
        if key.startswith(PARAM_PREFIX) and value.strip() != ""
    }


def _window_from(value):
    if not value:
        return None
    from maintenance.models import MaintenanceWindow

    return MaintenanceWindow.objects.filter(pk=value).first()


def _run_choice(runbook):
    """Host and window of the Run page: from the form (POST) or the query string (GET), else the best host."""
    request = runbook._request
    source = request.POST if request.method == "POST" else request.GET
    hosts = selectors.hosts_for_runbook(runbook)
    chosen = None
    if source.get("host"):
        chosen = Host.objects.filter(pk=source.get("host")).prefetch_related("components").first()
    if chosen is None and hosts:
        chosen = hosts[0]
    return chosen, hosts, _window_from(source.get("window"))


def _run_preview(runbook):
    if hasattr(runbook, "_preview"):
        return runbook._preview
    host, hosts, window = _run_choice(runbook)
    preview, error = None, ""
    if host is not None:
        try:
            preview = selectors.execution_preview(runbook=runbook, host=host, window=window)
        except DomainError as exc:
            error = str(exc)
    runbook._preview = (preview, error, host, hosts, window)
    return runbook._preview


def _run_preview_with_values(runbook):
    """The preview for the values the operator typed (the commands re-rendered), else the runbook's own."""
    if hasattr(runbook, "_typed_preview"):
        return runbook._typed_preview
    preview, error, host, hosts, window = _run_preview(runbook)
    typed = _changed_overrides(runbook)
    if typed and host is not None and preview is not None:
        try:
            preview = selectors.execution_preview(runbook=runbook, host=host, window=window, overrides=typed)
        except DomainError as exc:
            preview, error = None, str(exc)
    runbook._typed_preview = (preview, error, host, hosts, window, typed)
    return runbook._typed_preview


def _changed_overrides(runbook) -> dict:
    """Typed values that differ from the runbook's own (as text: the library validates text)."""
    preview = _run_preview(runbook)[0]
    resolved = {}
    if preview is not None:
        for step in preview.plan:
            for name, value in step["params"].items():
                resolved.setdefault(name, str(value))
    return {k: v for k, v in _query_overrides(runbook).items() if resolved.get(k) != v}


def _run_initial(request, runbook):
    preview, _, host, _, window, typed = _run_preview_with_values(runbook)
    return {
        "host": host.pk if host else None,
        "window": window.pk if window else None,
        "digest": preview.digest if preview else "",
        **{PARAM_PREFIX + k: v for k, v in typed.items()},
    }


def _run_describe(runbook):
    preview, error, host, hosts, window, typed = _run_preview_with_values(runbook)
    if host is None:
        return "There is no enabled host: add one (and pin its key) first."
    query = {"window": window.pk} if window else {}
    switch = format_html_join(
        mark_safe(" · "),
        '<a href="?{}">{}</a>',
        ((urlencode({**query, "host": h.pk}), h.name) for h in hosts if h.pk != host.pk),
    )
    target = format_html(
        "<strong>Target:</strong> {} — <code>{}</code>, host key <code>{}</code>{}",
        host.name,
        host.address,
        host.host_key_fingerprint or "NOT PINNED",
        format_html(" (other hosts: {})", switch) if switch else "",
    )
    parts = [target]
    if window is not None:
        parts.append(
            format_html("<strong>Maintenance window:</strong> {} ({})", window.title, window.get_status_display())
        )
    if error:
        parts.append(format_html('<span class="errornote">{}</span>', error))
        return format_html_join(BR, "{}", ((p,) for p in parts))
    rule = preview.verdict.reason
    if preview.verdict.needs_justification:
        rule += " Type the justification below."
    else:
        rule += " No justification is needed."
    parts.append(format_html('<strong>Window rule:</strong> <span class="window-rule">{}</span>', rule))
    if typed:
        parts.append(
            format_html(
                "<strong>Parameters you changed:</strong> {} (the commands below use them).",
                ", ".join(f"{k}={v}" for k, v in sorted(typed.items())),
            )
        )
    for problem in preview.problems:
        parts.append(format_html('<span class="errornote">{}</span>', problem))
    if preview.busy_with:
        parts.append(
            format_html("The host is busy with execution #{}: this run will wait in the queue.", preview.busy_with)
        )
    steps = format_html_join(
        "",
        "<li><strong>{}</strong> <small>({}; timeout {} s per command on the host)</small><br>{}</li>",
        (
            (
                step["label"],
                step["task"],
                step["timeout"],
                format_html_join(BR, "<code>{}</code>", ((c,) for c in step["commands"])),
            )
            for step in preview.commands
        ),
    )
    parts.append(
        format_html(
            "<strong>Exact commands</strong> (each sent as <code>timeout --kill-after=5s N sh -c '…'</code>):<ol>{}</ol>",
            steps,
        )
    )
    return format_html_join(BR, "{}", ((p,) for p in parts))


def _run_perform(request, runbook, data):
    host = Host.objects.filter(pk=data["host"]).first()
    if host is None:
        raise DomainError("Choose a host.")
    window = _window_from(data.get("window"))
    execution = services.execution_launch(
        actor=request.user,
        runbook=runbook,
        host=host,
        window=window,
        justification=data.get("justification", ""),
        overrides=_changed_overrides(runbook) or None,
        via=LaunchChannel.WINDOW if window else LaunchChannel.ADMIN,
        expected_digest=data["digest"],
    )
    request._runbook_execution_url = reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])
    return f"Execution #{execution.pk} of “{runbook.name}” on {host.name} is queued."


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
        )
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
            '<a class="button" href="{}">Run…</a>', reverse("admin:runbooks_runbook_workflow", args=[obj.pk, "run"])
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


# --------------------------------------------------------------------------------------------------------
# Executions
# --------------------------------------------------------------------------------------------------------


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
class RunbookExecutionAdmin(WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
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
    list_per_page = 50
    date_hierarchy = "requested_at"
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
