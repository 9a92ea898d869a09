"""Health checks in the admin: the list (state, last result in words, components) and a check's page (last results,
a server-rendered latency sparkline, the incidents it opened). Every save and delete goes through the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ersen_ops.audit.admin import AuditHistoryMixin
from ersen_ops.core.display import relative, status_badge
from ersen_ops.core.errors import DomainError

from . import policy, selectors, services
from .choices import STATE_COLOURS, CheckType
from .models import Check, CheckEvidence, CheckIncident

SPARK_W, SPARK_H = 240, 40


class CheckForm(forms.ModelForm):
    url = forms.URLField(assume_scheme="https", required=False, max_length=500,
                         help_text="HTTP(S) checks: the address to request.")

    class Meta:
        model = Check
        fields = (*services.CHECK_FIELDS, "components")


def sparkline(results) -> str:
    """Latency of the last results (oldest left) as inline SVG; failed probes are red dots on the baseline."""
    ordered = list(reversed(results))
    if not ordered:
        return "—"
    latencies = [r.latency_ms if r.passed else None for r in ordered]
    points = policy.sparkline_points(latencies, width=SPARK_W, height=SPARK_H)
    step = SPARK_W / max(len(ordered) - 1, 1)
    failures = format_html_join(
        "", '<circle cx="{}" cy="{}" r="2" fill="#c62828"><title>{}</title></circle>',
        ((f"{i * step:.1f}", SPARK_H - 1, r.message) for i, r in enumerate(ordered) if not r.passed),
    )
    top = max((r.latency_ms or 0) for r in ordered)
    return format_html(
        '<svg role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" aria-label="{label}">'
        '<title>{label}</title><polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{points}"/>{f}</svg>',
        w=SPARK_W, h=SPARK_H, points=points, f=failures,
        label=f"Latency of the last {len(ordered)} results, up to {policy.seconds(top)}",
    )


@admin.register(Check)
class CheckAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = CheckForm
    list_display = ("name", "state_badge", "type", "target_text", "last_result", "components_text", "enabled")
    list_filter = ("state", "type", "enabled", "open_incident")
    search_fields = ("name", "url", "host", "last_message")
    list_per_page = 100
    readonly_fields = ("state_badge", "state_changed_at", "last_result", "heartbeat_url", "latency", "results_table",
                       "incidents_table", "audit_history")
    fieldsets = (
        (None, {"fields": ("name", "type", "enabled", "components", "interval_seconds", "timeout_seconds")}),
        ("State", {"fields": ("state_badge", "state_changed_at", "last_result", "latency", "results_table")}),
        ("When is it down", {"fields": ("failures_to_down", "successes_to_up", "down_status")}),
        ("HTTP(S)", {"fields": ("url", "method", "expected_status", "body_contains", "body_regex",
                                "latency_limit_ms", "max_redirects", "cert_warning_days")}),
        ("TCP and TLS", {"fields": ("host", "port")}),
        ("Heartbeat", {"fields": ("heartbeat_source", "heartbeat_period_seconds", "heartbeat_grace_seconds",
                                  "heartbeat_url")}),
        ("Incidents", {"fields": ("open_incident", "incident_level", "incident_first_update_public",
                                  "resolve_after_quiet_minutes", "incidents_table")}),
        ("Audit history", {"fields": ("audit_history",), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return selectors.check_list()

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return status_badge(obj.state, obj.get_state_display(), STATE_COLOURS)

    @admin.display(description="target")
    def target_text(self, obj):
        return obj.target

    @admin.display(description="last result", ordering="last_result_at")
    def last_result(self, obj):
        if obj.last_result_at is None:
            return "—"
        word = "passed" if obj.last_passed else "failed"
        return format_html("{} {}: {}", word, relative(obj.last_result_at), obj.last_message)

    @admin.display(description="components")
    def components_text(self, obj):
        return ", ".join(c.name for c in obj.components.all()) or "—"

    @admin.display(description="latency (last results)")
    def latency(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return sparkline(self._results(obj))

    def _results(self, obj):
        if getattr(obj, "_results", None) is None:
            obj._results = selectors.last_results(obj)
        return obj._results

    @admin.display(description="last results")
    def results_table(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        rows = self._results(obj)[: selectors.LAST_RESULTS]
        if not rows:
            return "No results yet."
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.at.strftime("%Y-%m-%d %H:%M:%S UTC"), "passed" if r.passed else "failed",
              policy.seconds(r.latency_ms), r.message + (" (in maintenance)" if r.in_maintenance else ""))
             for r in rows),
        )
        return format_html("<table><tr><th>at</th><th>outcome</th><th>latency</th><th>what</th></tr>{}</table>", body)

    @admin.display(description="incidents the check opened")
    def incidents_table(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        links = selectors.automated_incidents(obj)
        if not links:
            return "None."
        return format_html_join(
            format_html("<br>"), '<a href="{}">{}</a> — {}',
            ((reverse("admin:incidents_incident_change", args=[link.incident_id]), link.incident.title,
              link.get_state_display()) for link in links),
        )

    @admin.display(description="heartbeat URL")
    def heartbeat_url(self, obj):
        if obj is None or obj.pk is None or obj.type != CheckType.HEARTBEAT:
            return "—"
        url = reverse("admin:checks_check_heartbeat_secret", args=[obj.pk])
        state = "set (only its hash is kept)" if obj.heartbeat_secret_hash else "not set yet"
        return format_html('The secret URL is {}. <a href="{}">Make a new secret URL</a>', state, url)

    def get_urls(self):
        return [
            path("<int:pk>/heartbeat-secret/", self.admin_site.admin_view(self.heartbeat_secret_view),
                 name="checks_check_heartbeat_secret"),
            *super().get_urls(),
        ]

    def heartbeat_secret_view(self, request, pk: int):
        """GET: a confirmation page that changes nothing. POST: a new secret, shown once."""
        check = get_object_or_404(Check, pk=pk)
        if not self.has_change_permission(request, check):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "check": check, "opts": self.model._meta,
                   "title": f"New heartbeat URL for “{check.name}”"}
        if request.method == "POST":
            try:
                path_ = services.heartbeat_new_secret(actor=request.user, check=check)
            except DomainError as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(reverse("admin:checks_check_change", args=[pk]))
            context["url"] = request.build_absolute_uri(path_)
        return TemplateResponse(request, "checks/heartbeat_secret.html", context)

    def save_model(self, request, obj, form, change):
        before = services.check_state(Check.objects.get(pk=obj.pk), [
            c.name for c in Check.objects.get(pk=obj.pk).components.all()]) if change else None
        obj._pending_components = form.cleaned_data.get("components")
        obj._before = before

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        try:
            services.check_save(actor=request.user, check=obj, components=obj._pending_components, before=obj._before)
        except DomainError as exc:
            raise PermissionDenied(str(exc)) from None

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        services.check_delete(actor=request.user, check=obj)

    def delete_queryset(self, request, queryset):
        for check in queryset:
            services.check_delete(actor=request.user, check=check)


@admin.register(CheckIncident)
class CheckIncidentAdmin(admin.ModelAdmin):
    list_display = ("health_check", "incident", "state", "opened_at", "recovered_at", "closed_at")
    list_select_related = ("health_check", "incident")
    list_filter = ("state",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CheckEvidence)
class CheckEvidenceAdmin(admin.ModelAdmin):
    list_display = ("window", "item_key", "created_at", "passes_required")
    list_select_related = ("window",)
    readonly_fields = ("window", "item_key", "created_at", "since", "passes_required", "summary", "results_list")
    exclude = ("results",)

    @admin.display(description="passing results")
    def results_list(self, obj):
        return format_html_join(
            format_html("<br>"), "{} (check #{}): results {}",
            ((r.get("check"), r.get("check_id"), ", ".join(f"#{i}" for i in r.get("result_ids", []))) for r in obj.results),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
