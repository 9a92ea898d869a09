"""Host groups (a role tag or an explicit list, with the hosts it resolves to) and runs on them: the host × step
matrix, live, and Cancel. "Run on a host group" is a button of the runbook page (runbooks.admin.runbook)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.admin_readonly import RecordAdminMixin
from ersen_ops.core.admin_workflow import WorkflowAction, WorkflowAdminMixin, final
from ersen_ops.core.display import both_zones, status_badge
from ersen_ops.core.errors import DomainError
from runbooks import policy, selectors, services
from runbooks.choices import GROUP_RUN_ACTIVE_STATUSES, GROUP_RUN_COLOURS
from runbooks.models import GroupRun, HostGroup


class HostGroupForm(forms.ModelForm):
    class Meta:
        model = HostGroup
        fields = ("name", "slug", "description", "role", "hosts")

    def clean(self):
        data = super().clean()
        try:
            policy.check_group_membership(role=data.get("role") or "", host_count=len(data.get("hosts") or []))
        except DomainError as exc:
            raise ValidationError(str(exc)) from None
        return data


class MembershipFilter(admin.SimpleListFilter):
    title = "hosts chosen by"
    parameter_name = "chosen_by"

    def lookups(self, request, model_admin):
        return [("role", "a role tag"), ("list", "an explicit list")]

    def queryset(self, request, queryset):
        if self.value() == "role":
            return queryset.exclude(role="")
        if self.value() == "list":
            return queryset.filter(role="")
        return queryset


@admin.register(HostGroup)
class HostGroupAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = HostGroupForm
    list_display = ("name", "slug", "membership", "host_count", "runs_link")
    list_filter = (MembershipFilter,)
    search_fields = ("name", "slug", "role")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("hosts",)
    readonly_fields = ("resolved_hosts", "audit_history")
    fieldsets = (
        (None, {"fields": ("name", "slug", "description")}),
        (
            "Hosts: a role tag or an explicit list (exactly one)",
            {"fields": ("role", "hosts", "resolved_hosts")},
        ),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_listed=Count("hosts"))

    @admin.display(description="hosts")
    def membership(self, obj):
        return f"every enabled host with role “{obj.role}”" if obj.role else f"{obj._listed} listed hosts"

    @admin.display(description="enabled hosts now")
    def host_count(self, obj):
        return len(selectors.host_group_hosts(obj))

    @admin.display(description="")
    def runs_link(self, obj):
        url = reverse("admin:runbooks_grouprun_changelist") + "?" + urlencode({"host_group__id__exact": obj.pk})
        return format_html('<a href="{}">Runs</a>', url)

    @admin.display(description="hosts a run targets now, in run order")
    def resolved_hosts(self, obj):
        if obj is None or obj.pk is None:
            return "Save first: the hosts are resolved from the role tag or the list."
        members = selectors.host_group_members(obj)
        if not members:
            return "No host: a run on this group is refused."
        return format_html(
            "<ol>{}</ol><small>Lower position first, ties by name (a host's position is on the host page). "
            "Disabled hosts are left out of runs.</small>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> — position {}{}</li>',
                (
                    (
                        reverse("admin:runbooks_host_change", args=[h.pk]),
                        h.name,
                        h.position,
                        "" if h.enabled else " (disabled: left out)",
                    )
                    for h in members
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        request._host_group_before = (
            services.host_group_state(HostGroup.objects.get(pk=obj.pk)) if change else {}
        )  # saved with its hosts in save_related, through the service

    def save_related(self, request, form, formsets, change):
        services.host_group_save(
            actor=request.user,
            group=form.instance,
            hosts=form.cleaned_data.get("hosts") or [],
            before=getattr(request, "_host_group_before", {}),
        )


class GroupCancelForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


def _group_cancel_perform(request, run, data):
    result = services.group_run_cancel(actor=request.user, group_run=run, reason=data.get("reason", ""))
    return result.outcome


@admin.register(GroupRun)
class GroupRunAdmin(RecordAdminMixin, WorkflowAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    change_form_template = "admin/runbooks/grouprun/change_form.html"
    list_display = (
        "id",
        "runbook_name",
        "group_name",
        "status_column",
        "progress",
        "batch_size",
        "max_failures",
        "requested_by_name",
        "requested_column",
    )
    list_filter = ("status", "host_group", "runbook")
    search_fields = ("runbook_name", "group_name", "requested_by_name")
    list_per_page = 50
    fields = (
        "status_column",
        "runbook",
        "host_group",
        "progress",
        "batch_size",
        "max_failures",
        "outcome",
        "requested_by_name",
        "requested_via",
        "requested_column",
        "started_column",
        "finished_column",
        "window",
        "justification",
        "overrides",
        "cancel_requested_by_name",
        "cancel_reason",
        "audit_history",
    )
    readonly_fields = fields
    workflow_actions = [
        WorkflowAction(
            name="cancel",
            label="Cancel",
            permission="runbooks.cancel_runbookexecution",
            perform=_group_cancel_perform,
            form_class=GroupCancelForm,
            available=lambda r: r.status in GROUP_RUN_ACTIVE_STATUSES,
            unavailable_reason=lambda r: final(f"This run on a host group is {r.get_status_display().lower()}."),
            describe=lambda r: (
                "The hosts not started yet are cancelled, queued ones end now, and running ones are asked to stop "
                "(the worker stops the command on the host)."
            ),
            touches_production=True,
            css_class="deletelink",
        )
    ]

    def get_queryset(self, request):
        return selectors.group_run_list()

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/matrix.json",
                self.admin_site.admin_view(self.matrix_view),
                name="runbooks_grouprun_matrix",
            ),
        ]
        return custom + super().get_urls()

    def _matrix(self, run):
        matrix = selectors.group_run_matrix(run)
        for row in matrix["rows"]:
            row["url"] = reverse("admin:runbooks_runbookexecution_change", args=[row["execution"]])
        return matrix

    def matrix_view(self, request, object_id):
        """The JSON the group run page polls (view permission; GET only, changes nothing)."""
        if request.method != "GET":
            raise PermissionDenied("GET only.")
        if not self.has_view_permission(request):
            raise PermissionDenied("Your role does not include viewing runs on host groups.")
        run = get_object_or_404(self.get_queryset(request), pk=object_id)
        payload = self._matrix(run)
        payload["fields"] = {
            "status_column": str(self.status_column(run)),
            "progress": str(self.progress(run)),
            "outcome": run.outcome or "-",
            "started_column": str(self.started_column(run)),
            "finished_column": str(self.finished_column(run)),
        }
        return JsonResponse(payload)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["matrix"] = self._matrix(obj)
            context["matrix_url"] = reverse("admin:runbooks_grouprun_matrix", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="status", ordering="status")
    def status_column(self, obj):
        return status_badge(obj.status, obj.get_status_display(), GROUP_RUN_COLOURS)

    @admin.display(description="batch")
    def progress(self, obj):
        if not obj.current_batch:
            return f"not started ({obj.batches_total} batches)"
        return f"batch {obj.current_batch} of {obj.batches_total} ({len(obj.hosts_snapshot)} hosts)"

    @admin.display(description="requested", ordering="requested_at")
    def requested_column(self, obj):
        return both_zones(obj.requested_at)

    @admin.display(description="started")
    def started_column(self, obj):
        return both_zones(obj.started_at)

    @admin.display(description="finished")
    def finished_column(self, obj):
        return both_zones(obj.finished_at)
