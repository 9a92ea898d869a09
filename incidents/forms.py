"""Admin forms: they collect input and hand it to a service; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from ersen_ops.core.validators import validate_single_line
from ersen_ops.status.models import Component
from incidents.choices import OPEN_STATUSES, Impact, IncidentStatus, Level
from incidents.policy import LEVELS
from incidents.services import MESSAGE_RESOLVE_NEEDS_TEXT

NO_IMPACT = ""


def _level_choices():
    return [(p.level, f"{p.level} — {p.definition} ({p.response_phrase}; {p.escalation})") for p in LEVELS.values()]


def _impact_choices():
    return [(NO_IMPACT, "— not affected —"), *Impact.choices]


def _staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class ComponentImpactsMixin:
    """One impact choice per component (fields `impact_<id>`), built when the form is created."""

    def add_impact_fields(self):
        self.components = list(Component.objects.filter(is_group=False).order_by("position", "name"))
        for component in self.components:
            self.fields[f"impact_{component.pk}"] = forms.ChoiceField(
                label=component.name, choices=_impact_choices(), required=False
            )

    def impacts(self) -> dict[int, str]:
        return {
            c.pk: self.cleaned_data.get(f"impact_{c.pk}")
            for c in self.components
            if self.cleaned_data.get(f"impact_{c.pk}")
        }


class IncidentOpenForm(ComponentImpactsMixin, forms.Form):
    title = forms.CharField(
        max_length=200,
        validators=[validate_single_line],
        help_text="Short and factual; shown publicly if you post a public update.",
    )
    level = forms.ChoiceField(choices=_level_choices, initial=Level.P2, widget=forms.RadioSelect)
    commander = forms.ModelChoiceField(
        queryset=_staff_users(), required=False, help_text="Empty: whoever acknowledges takes command."
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="First public update",
        help_text="Optional. Posted to the status page as “Investigating”. Leave empty to stay internal for now.",
    )
    internal_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Never leaves the admin."
    )
    maintenance_window = forms.ModelChoiceField(
        queryset=None, required=False, help_text="If maintenance caused this incident."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from maintenance.models import MaintenanceWindow

        self.fields["commander"].queryset = _staff_users()
        self.fields["maintenance_window"].queryset = MaintenanceWindow.objects.exclude(
            status__in=["draft", "cancelled"]
        ).order_by("-planned_start")
        self.add_impact_fields()


class PostUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=[(s, IncidentStatus(s).label) for s in OPEN_STATUSES])
    body = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 5}))
    public = forms.BooleanField(
        required=False,
        initial=True,
        label="Public (publish on the status page)",
        help_text="Untick for an internal update: it stays in this timeline and is never sent anywhere.",
    )


class ResolveForm(forms.Form):
    body = forms.CharField(
        label="Final public update",
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": MESSAGE_RESOLVE_NEEDS_TEXT},
        help_text="Published on the status page as “Resolved”.",
    )
    postmortem_summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    postmortem_url = forms.URLField(required=False, assume_scheme="https")


class ChangeLevelForm(forms.Form):
    level = forms.ChoiceField(choices=_level_choices, widget=forms.RadioSelect)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the level history.")


class CommanderForm(forms.Form):
    commander = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = _staff_users()


class ComponentsForm(ComponentImpactsMixin, forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_impact_fields()


class WindowLinkForm(forms.Form):
    maintenance_window = forms.ModelChoiceField(queryset=None, required=False, help_text="Empty removes the link.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from maintenance.models import MaintenanceWindow

        self.fields["maintenance_window"].queryset = MaintenanceWindow.objects.exclude(
            status__in=["draft", "cancelled"]
        ).order_by("-planned_start")
