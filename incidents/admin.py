"""Incidents in the admin: the list (urgent first), the change form with its timeline and workflow buttons,
the current-sprint (P3) and backlog (P4) lists, and the MTTA/MTTR report.

Every button calls a service through `WorkflowAdminMixin` (GET confirms, POST performs, permission
checked). Opening an incident has its own form page, which calls `incident_open`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
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
from ersen_ops.core.display import both_zones, countdown, local_and_pacific_text, status_badge
from ersen_ops.core.errors import DomainError, PermissionRefused
from ersen_ops.core.kit import require
from ersen_ops.core.people import person_link
from ersen_ops.notifications import outcomes
from ersen_ops.notifications.admin import DeliveriesMixin
from ersen_ops.notifications.choices import Channel, PagerAction
from incidents import forms, policy, selectors, services
from incidents.admin_views import report_view
from incidents.calendar import sprint_calendar
from incidents.choices import IMPACT_COLOURS, LEVEL_COLOURS, STATUS_COLOURS, IncidentStatus, Level
from incidents.models import BacklogIncident, Incident, SprintQueueIncident

# The buttons need the permissions the services check (incidents.services.PERM_*).
P_ACK = services.PERM_ACKNOWLEDGE
P_RESOLVE = services.PERM_RESOLVE
P_LEVEL = services.PERM_CHANGE_LEVEL
P_COMMAND = services.PERM_COMMAND
P_UPDATE = services.PERM_POST_UPDATE
P_CHANGE = services.PERM_CHANGE
P_OPEN = services.PERM_OPEN
P_VIEW = "incidents.view_incident"


# --- list columns, shared by the three lists ------------------------------------------------


def level_badge(obj):
    return status_badge(obj.level, obj.level, LEVEL_COLOURS)


def sla_cell(obj, now):
    if obj.breached or policy.is_past_due(
        response_due_at=obj.response_due_at, acknowledged_at=obj.acknowledged_at, resolved_at=obj.resolved_at, now=now
    ):
        return format_html(
            '<span class="breached" title="due {}">breached</span>', policy.format_moment(obj.response_due_at)
        )
    if obj.acknowledged_at is not None:
        return f"acknowledged after {policy.format_duration(obj.acknowledged_at - obj.opened_at)}"
    if obj.resolved_at is not None:
        return "—"
    # Ticks every second in the browser (ersen_ops/core/static/ops/live.js); the text is right without JS too.
    return countdown(
        obj.response_due_at,
        policy.time_to_due(response_due_at=obj.response_due_at, now=now),
        title=f"response due {policy.format_moment(obj.response_due_at)}",
        now=now,
    )


def age_cell(obj, now):
    if obj.resolved_at is not None:
        return f"resolved after {policy.format_duration(obj.resolved_at - obj.opened_at)}"
    return policy.format_duration(now - obj.opened_at)


def components_cell(obj):
    impacts = list(obj.component_impacts.all())  # prefetched by selectors.incident_list
    if not impacts:
        return "—"
    return format_html_join(
        mark_safe("<br>"),
        "{} {}",
        ((ic.component.name, status_badge(ic.impact, ic.get_impact_display(), IMPACT_COLOURS)) for ic in impacts),
    )


class ListColumnsMixin:
    """The columns of every incident list; rows come from `selectors.incident_list` (constant queries)."""

    list_display = ("level_col", "title_col", "status_col", "age_col", "sla_col", "commander", "components_col")
    list_per_page = 100

    def get_queryset(self, request):
        # Annotate first (the urgency ordering needs it); ModelAdmin's own get_queryset would order before.
        return selectors.incident_list(self.model._default_manager.get_queryset())

    def get_ordering(self, request):
        return ["urgency", "level", "-opened_at", "-id"]

    @admin.display(description="level", ordering="level")
    def level_col(self, obj):
        return level_badge(obj)

    @admin.display(description="title", ordering="title")
    def title_col(self, obj):
        url = reverse("admin:incidents_incident_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.title)

    @admin.display(description="status", ordering="status")
    def status_col(self, obj):
        return status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS)

    @admin.display(description="age", ordering="-opened_at")
    def age_col(self, obj):
        return age_cell(obj, timezone.now())

    @admin.display(description="response SLA", ordering="response_due_at")
    def sla_col(self, obj):
        return sla_cell(obj, timezone.now())

    @admin.display(description="components")
    def components_col(self, obj):
        return components_cell(obj)


# --- workflow actions ------------------------------------------------------------------------


def _acknowledge(request, obj, data):
    outcome = services.incident_acknowledge(actor=request.user, incident=obj)
    if not outcome.changed:
        messages.info(request, outcome.message)
        return f"Nothing to do: {obj} was already acknowledged."
    return outcome.message


def _ack_unavailable(obj):
    if obj.acknowledged_at is not None:
        who = obj.acknowledged_by.get_username() if obj.acknowledged_by_id else "the system"
        return final(f"It was acknowledged by {who}.")
    return ""


def _post_update(request, obj, data):
    update = services.incident_post_update(
        actor=request.user, incident=obj, status=data["status"], body=data["body"], public=data["public"]
    )
    where = "published on the status page" if update.public else "kept internal (not sent anywhere)"
    return f"Update posted ({update.get_status_display()}), {where}."


def _resolve(request, obj, data):
    services.incident_resolve(
        actor=request.user,
        incident=obj,
        body=data["body"],
        postmortem_summary=data.get("postmortem_summary", ""),
        postmortem_url=data.get("postmortem_url", ""),
    )
    return "Resolved; the final update is published on the status page."


def _change_level(request, obj, data):
    incident = services.incident_change_level(
        actor=request.user, incident=obj, level=data["level"], reason=data["reason"]
    )
    return f"Level changed to {incident.level}; response due {local_and_pacific_text(incident.response_due_at)}."


def _assign_commander(request, obj, data):
    incident = services.incident_assign_commander(actor=request.user, incident=obj, commander=data["commander"])
    return f"{incident.commander.get_username()} now commands this incident."


def _set_components(request, obj, data):
    impacts = {
        int(name.removeprefix("impact_")): value for name, value in data.items() if name.startswith("impact_") and value
    }
    services.incident_set_components(actor=request.user, incident=obj, components=impacts)
    return "Affected components updated."


def _link_window(request, obj, data):
    services.incident_link_window(actor=request.user, incident=obj, window=data["maintenance_window"])
    return "Maintenance window link updated."


def _pager_plan() -> str:
    return outcomes.describe_channels([Channel.PAGER])


def _is_open(obj):
    return obj.resolved_at is None


def _resolved_reason(obj):
    return "" if obj.resolved_at is None else final("The incident is resolved.")


WORKFLOW = [
    WorkflowAction(
        name="acknowledge",
        label="Acknowledge",
        permission=P_ACK,
        perform=_acknowledge,
        available=lambda obj: obj.acknowledged_at is None and obj.resolved_at is None,
        unavailable_reason=_ack_unavailable,
        describe=lambda obj: (
            f"You respond to this {obj.level} incident: the response SLA stops, "
            + (f"the pager is sent “acknowledge” ({_pager_plan()}), " if obj.pager_open else "")
            + (
                "and you take command."
                if obj.commander_id is None
                else f"{obj.commander.get_username()} keeps command."
            )
        ),
        css_class="default",
    ),
    WorkflowAction(
        name="post_update",
        label="Post update",
        permission=P_UPDATE,
        perform=_post_update,
        available=_is_open,
        form_class=forms.PostUpdateForm,
        initial=lambda request, obj: {"status": obj.status, "public": True},
        describe=lambda obj: "A public update is published on the status page; an internal one stays here.",
    ),
    WorkflowAction(
        name="change_level",
        label="Change level",
        permission=P_LEVEL,
        perform=_change_level,
        available=_is_open,
        form_class=forms.ChangeLevelForm,
        initial=lambda request, obj: {"level": obj.level},
        describe=lambda obj: (
            f"Now {obj.level}, response due {local_and_pacific_text(obj.response_due_at)}. Raising sets the due time to "
            "the earlier of the current one and now + the new level's response time, and alerts the new level's "
            "channel (a P1 pages). Lowering never erases a recorded breach."
        ),
    ),
    WorkflowAction(
        name="assign_commander",
        label="Assign commander",
        permission=P_COMMAND,
        perform=_assign_commander,
        available=_is_open,
        form_class=forms.CommanderForm,
        initial=lambda request, obj: {"commander": obj.commander_id or request.user.pk},
    ),
    WorkflowAction(
        name="components",
        label="Affected components",
        permission=P_CHANGE,
        perform=_set_components,
        available=_is_open,
        form_class=forms.ComponentsForm,
        initial=lambda request, obj: {f"impact_{ic.component_id}": ic.impact for ic in obj.component_impacts.all()},
        describe=lambda obj: (
            "While the incident is unresolved, these impacts set the components' public status (the worst wins)."
        ),
    ),
    WorkflowAction(
        name="link_window",
        label="Link maintenance window",
        permission=P_CHANGE,
        perform=_link_window,
        form_class=forms.WindowLinkForm,
        initial=lambda request, obj: {"maintenance_window": obj.maintenance_window_id},
        describe=lambda obj: "Only a window that was running while the incident was open can be linked.",
    ),
    WorkflowAction(
        name="resolve",
        label="Resolve",
        permission=P_RESOLVE,
        perform=_resolve,
        available=_is_open,
        unavailable_reason=_resolved_reason,
        form_class=forms.ResolveForm,
        describe=lambda obj: (
            "The final update is published on the status page"
            + (f", the pager is sent “resolve” ({_pager_plan()})" if obj.pager_open else "")
            + ", and the components' public status stops following this incident."
        ),
    ),
]


# --- the incident admin -------------------------------------------------------------------------


class OpenFirstStatusFilter(admin.SimpleListFilter):
    """Status, defaulting to the open incidents (one click to all): the list is where the work is."""

    title = "status"
    parameter_name = "status"
    OPEN, ALL = "open", "all"

    def lookups(self, request, model_admin):
        return [(self.OPEN, "Open (not resolved)"), *IncidentStatus.choices, (self.ALL, "All")]

    def value(self):
        return super().value() or self.OPEN

    def choices(self, changelist):
        # No "All" of Django's own (which would mean "no parameter", i.e. open): ours is a value.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.OPEN:
            return queryset.filter(resolved_at__isnull=True)
        if value in IncidentStatus.values:
            return queryset.filter(status=value)
        return queryset


class ComponentFilter(admin.SimpleListFilter):
    title = "component"
    parameter_name = "component"

    def lookups(self, request, model_admin):
        from ersen_ops.status.models import Component

        return [(str(pk), name) for pk, name in Component.objects.filter(is_group=False).values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(component_impacts__component_id=self.value())
        return queryset


class UnacknowledgedFilter(admin.SimpleListFilter):
    title = "response"
    parameter_name = "response"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for acknowledgement"), ("acknowledged", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(acknowledged_at__isnull=True, resolved_at__isnull=True)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(Incident)
class IncidentAdmin(ListColumnsMixin, WorkflowAdminMixin, AuditHistoryMixin, DeliveriesMixin, admin.ModelAdmin):
    list_filter = (
        "level",
        OpenFirstStatusFilter,
        "breached",
        ComponentFilter,
        UnacknowledgedFilter,
        person_filter("commander", title="commander"),
    )
    search_fields = ("title", "public_id", "commander__username", "component_impacts__component__name")
    date_hierarchy = "opened_at"
    workflow_actions = WORKFLOW
    change_form_template = "admin/incidents/incident/change_form.html"
    change_list_template = "admin/incidents/incident/change_list.html"
    fieldsets = (
        (None, {"fields": ("summary", "title")}),
        ("Timeline", {"fields": ("timeline",)}),
        ("Response", {"fields": ("response",)}),
        ("Postmortem", {"fields": ("postmortem_summary", "postmortem_url")}),
        ("Internal notes (never public)", {"fields": ("internal_notes",)}),
        ("Notifications", {"fields": ("deliveries_sent",)}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )
    readonly_fields = ("summary", "timeline", "response", "deliveries_sent", "audit_history")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):
        return False  # incidents are records

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # the summary names people with links this viewer may follow
        return obj

    def get_urls(self):
        urls = [
            path("open/", self.admin_site.admin_view(self.open_view), name="incidents_incident_open"),
            path("report/", self.admin_site.admin_view(report_view(self)), name="incidents_incident_report"),
        ]
        return urls + super().get_urls()

    # The add page is the "Open incident" form, which calls incident_open.
    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:incidents_incident_open"))

    def open_view(self, request):
        try:  # the service's own rule and words, before the form is shown
            require(request.user, P_OPEN, what="opening incidents")
        except PermissionRefused as exc:
            raise PermissionDenied(str(exc)) from None
        form = forms.IncidentOpenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                with reported_action() as results:
                    incident = services.incident_open(
                        actor=request.user,
                        title=form.cleaned_data["title"],
                        level=form.cleaned_data["level"],
                        components=form.impacts(),
                        commander=form.cleaned_data["commander"],
                        message=form.cleaned_data["message"],
                        internal_notes=form.cleaned_data["internal_notes"],
                        maintenance_window=form.cleaned_data["maintenance_window"],
                    )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                report_message(request, _opened_message(incident), results)
                return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Open an incident",
            "form": form,
            "levels": list(policy.LEVELS.values()),
        }
        return TemplateResponse(
            request, "admin/incidents/incident/open.html", context, status=400 if form.errors else 200
        )

    def save_model(self, request, obj, form, change):
        # Only the free-text fields are editable here; everything else has its own button.
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.EDITABLE_FIELDS}
        if fields:
            services.incident_edit(actor=request.user, incident=obj.pk, **fields)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # an edit refused by the service
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request, extra_context=None):
        showing_open = request.GET.get(OpenFirstStatusFilter.parameter_name, OpenFirstStatusFilter.OPEN) == "open"
        extra_context = {
            **(extra_context or {}),
            "sprint": current_sprint(),
            "can_open": request.user.has_perm(P_OPEN),
            "showing_open": showing_open,
            "all_url": "?" + _with_param(request, OpenFirstStatusFilter.parameter_name, OpenFirstStatusFilter.ALL),
        }
        return super().changelist_view(request, extra_context)

    # --- change form fields ---
    @admin.display(description="incident")
    def summary(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        now = timezone.now()
        return render_to_string(
            "admin/incidents/incident/summary.html",
            {
                "incident": obj,
                "commander": person_link(obj.commander, getattr(obj, "_viewer", None), empty=""),
                "opened_by": person_link(obj.opened_by, getattr(obj, "_viewer", None), empty=""),
                "level_badge": level_badge(obj),
                "status_badge": status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS),
                "policy": policy.LEVELS[obj.level],
                "sla": sla_cell(obj, now),
                "age": age_cell(obj, now),
                "opened": both_zones(obj.opened_at),
                "impacts": [
                    (ic, status_badge(ic.impact, ic.get_impact_display(), IMPACT_COLOURS))
                    for ic in obj.component_impacts.select_related("component")
                ],
            },
        )

    @admin.display(description="timeline (oldest first)")
    def timeline(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return render_to_string(
            "admin/incidents/incident/timeline.html",
            {"entries": selectors.incident_timeline(obj), "status_colours": STATUS_COLOURS},
        )

    @admin.display(description="response")
    def response(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        pager = [d for d in selectors.deliveries_for(obj) if d.channel == Channel.PAGER]
        pages = [d for d in pager if (d.pager_action or PagerAction.TRIGGER) == PagerAction.TRIGGER]
        return render_to_string(
            "admin/incidents/incident/response.html",
            {
                "incident": obj,
                # From the pager deliveries' real status, not from the fact that a page was asked for.
                "pages": outcomes.channel_outcomes(pages)[0].words if pages else "",
                "pages_problem": outcomes.deliveries_have_problem(pages),
                "pager_alert_open": obj.pager_open and outcomes.pager_alert_open(pager),
                "acknowledged_by": person_link(obj.acknowledged_by, getattr(obj, "_viewer", None), empty=""),
                "resolved_by": person_link(obj.resolved_by, getattr(obj, "_viewer", None), empty=""),
                "due": both_zones(obj.response_due_at),
                "acknowledged": both_zones(obj.acknowledged_at),
                "resolved": both_zones(obj.resolved_at),
                "breached_at": both_zones(obj.breached_at),
                "last_paged": both_zones(obj.last_paged_at),
            },
        )


def _with_param(request, name: str, value: str) -> str:
    query = request.GET.copy()
    query[name] = value
    query.pop("p", None)  # page numbers belong to the old selection
    return query.urlencode()


def _opened_message(incident) -> str:
    """Who the level interrupts; what really reached them is added from the deliveries (report_message)."""
    told = {
        Level.P1: "The level pages the on-call engineer and alerts Slack.",
        Level.P2: "The level alerts Slack.",
        Level.P3: "Nobody is interrupted: it is in the current sprint's queue.",
        Level.P4: "Nobody is interrupted: it is in the backlog.",
    }[incident.level]
    due = local_and_pacific_text(incident.response_due_at)
    return f"Incident {incident.public_id} opened as {incident.level}; response due {due}. {told}"


def current_sprint():
    return sprint_calendar().sprint_at(timezone.now())


# --- current sprint (P3) and backlog (P4): read-only lists over the same table -------------------


class QueueAdmin(ListColumnsMixin, admin.ModelAdmin):
    list_display_links = None
    list_filter = ("status", "breached", ComponentFilter)
    search_fields = ("title", "public_id")
    change_list_template = "admin/incidents/incident/queue_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(P_VIEW)

    def has_module_permission(self, request):
        return request.user.has_perm(P_VIEW)

    def get_ordering(self, request):
        return ["urgency", "response_due_at", "-id"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # One change form per incident: the queue rows open the incident itself.
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[object_id]))


@admin.register(SprintQueueIncident)
class SprintQueueAdmin(QueueAdmin):
    def get_queryset(self, request):
        return selectors.sprint_queue(queryset=super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        sprint = current_sprint()
        extra_context = {
            **(extra_context or {}),
            "queue_title": f"Current sprint: {sprint}",
            "queue_help": (
                "P3 — minor bug, workaround exists: respond within 24 hours, fix in the normal sprint. "
                "Unresolved P3s, and those resolved during this sprint."
            ),
        }
        return super().changelist_view(request, extra_context)


@admin.register(BacklogIncident)
class BacklogAdmin(QueueAdmin):
    def get_queryset(self, request):
        return selectors.backlog(queryset=super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "queue_title": "Backlog (P4)",
            "queue_help": ("P4 — cosmetic / enhancement: respond by the end of the next sprint. Unresolved P4s."),
        }
        return super().changelist_view(request, extra_context)
