""" "Run": the form that picks the host, window and parameters, and the page that shows the exact commands first."""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from ersen_ops.core.errors import DomainError
from runbooks import selectors, services
from runbooks.choices import LaunchChannel
from runbooks.models import Host

BR = mark_safe("<br>")  # format_html_join escapes its separator


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


# --- "Run on a host group" ----------------------------------------------------------------------------------------


class GroupRunForm(forms.Form):
    host_group = forms.IntegerField(widget=forms.HiddenInput, label="")
    digest = forms.CharField(widget=forms.HiddenInput, label="")
    batch_size = forms.IntegerField(
        min_value=1, initial=1, help_text="Hosts run at the same time; the next batch starts when this one has ended."
    )
    max_failures = forms.IntegerField(
        min_value=1,
        initial=1,
        help_text="Stop once this many hosts failed (the hosts not started yet are not run); 1 = at the first.",
    )
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Required post-launch for hosts outside an in-progress window of their components (they are flagged).",
    )


def _group_choice(runbook):
    """The host group of the page (?host_group=ID or the posted one), else the first group."""
    from runbooks.models import HostGroup

    request = runbook._request
    source = request.POST if request.method == "POST" else request.GET
    groups = list(HostGroup.objects.order_by("name"))
    chosen = next((g for g in groups if str(g.pk) == str(source.get("host_group") or "")), None)
    return chosen or (groups[0] if groups else None), groups


def _group_previews(runbook):
    """Each host's preview for the chosen group: [(host, preview or None, error)]."""
    if hasattr(runbook, "_group_previews"):
        return runbook._group_previews
    group, groups = _group_choice(runbook)
    rows = []
    if group is not None:
        for host in selectors.host_group_hosts(group):
            try:
                preview = selectors.execution_preview(runbook=runbook, host=host)
                rows.append((host, preview, " ".join(preview.problems)))
            except DomainError as exc:
                rows.append((host, None, str(exc)))
    runbook._group_previews = (group, groups, rows)
    return runbook._group_previews


def _group_initial(request, runbook):
    group, _, rows = _group_previews(runbook)
    previews = [p for _, p, _ in rows if p is not None]
    return {
        "host_group": group.pk if group else None,
        "digest": selectors.group_plan_digest(previews) if previews else "",
    }


def _group_describe(runbook):
    group, groups, rows = _group_previews(runbook)
    if group is None:
        add = reverse("admin:runbooks_hostgroup_add")
        return format_html('There is no host group yet: <a href="{}">add one</a> (a role tag or a list of hosts).', add)
    switch = format_html_join(
        mark_safe(" · "),
        '<a href="?{}">{}</a>',
        ((urlencode({"host_group": g.pk}), g.name) for g in groups if g.pk != group.pk),
    )
    parts = [
        format_html(
            "<strong>Host group:</strong> {} ({}){}",
            group.name,
            f"role “{group.role}”" if group.role else "explicit list",
            format_html(" — other groups: {}", switch) if switch else "",
        )
    ]
    if not rows:
        parts.append(format_html('<span class="errornote">{}</span>', "This group has no enabled host."))
        return format_html_join(BR, "{}", ((p,) for p in parts))
    hosts = format_html_join(
        "",
        "<li><strong>{}</strong> <code>{}</code> position {} — {}{}</li>",
        (
            (
                h.name,
                h.address,
                h.position,
                p.verdict.reason if p is not None else "",
                format_html(' <span class="errornote">{}</span>', error) if error else "",
            )
            for h, p, error in rows
        ),
    )
    parts.append(
        format_html(
            "<strong>Hosts in run order</strong> (lower position first; batches of the size below; all are checked "
            "before anything starts, and one refused host refuses the run):<ol>{}</ol>",
            hosts,
        )
    )
    first = next((p for _, p, _ in rows if p is not None), None)
    if first is not None:
        steps = format_html_join(
            "",
            "<li><strong>{}</strong> <small>({}; timeout {} s){}</small><br>{}</li>",
            (
                (
                    s["label"],
                    s["task"],
                    s["timeout"],
                    f"; up to {plan['retries']} retries" if plan.get("retries") else "",
                    format_html_join(BR, "<code>{}</code>", ((c,) for c in s["commands"])),
                )
                for s, plan in zip(first.commands, first.plan, strict=True)
            ),
        )
        parts.append(
            format_html("<strong>Commands on each host</strong> (as on {}):<ol>{}</ol>", first.host.name, steps)
        )
    if any(p is not None and p.verdict.needs_justification for _, p, _ in rows):
        parts.append(format_html("<strong>{}</strong>", "Some hosts need the justification below (window rule)."))
    return format_html_join(BR, "{}", ((p,) for p in parts))


def _group_perform(request, runbook, data):
    from runbooks.models import HostGroup

    group = HostGroup.objects.filter(pk=data["host_group"]).first()
    if group is None:
        raise DomainError("Choose a host group.")
    run = services.group_run_launch(
        actor=request.user,
        runbook=runbook,
        host_group=group,
        batch_size=data["batch_size"],
        max_failures=data["max_failures"],
        justification=data.get("justification", ""),
        via=LaunchChannel.ADMIN,
        expected_digest=data["digest"] or None,
    )
    request._runbook_execution_url = reverse("admin:runbooks_grouprun_change", args=[run.pk])
    return (
        f"Run #{run.pk} of “{runbook.name}” on {len(run.hosts_snapshot)} hosts of “{group.name}” is queued "
        f"(batches of {run.batch_size}, stop after {run.max_failures} failed)."
    )
