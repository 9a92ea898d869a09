"""A runbook's steps, edited inline: each step's parameters validated against the task library."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from ersen_ops.core.errors import DomainError
from runbooks import library, policy, selectors
from runbooks.models import RunbookStep


class RunbookStepForm(forms.ModelForm):
    task = forms.ChoiceField(choices=library.task_choices)
    # Optional in the form (blank: no retries, the default delay), bounded by the model's validators.
    retries = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=policy.MAX_STEP_RETRIES,
        initial=0,
        help_text=RunbookStep.retries.field.help_text,
    )
    retry_delay = forms.IntegerField(
        label="retry delay (s)",
        required=False,
        min_value=0,
        max_value=policy.MAX_RETRY_DELAY,
        initial=10,
        help_text=RunbookStep.retry_delay.field.help_text,
    )

    class Meta:
        model = RunbookStep
        fields = ("order", "task", "params", "timeout_seconds", "retries", "retry_delay")
        widgets = {"params": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_retries(self):
        value = self.cleaned_data.get("retries")
        return 0 if value is None else value

    def clean_retry_delay(self):
        value = self.cleaned_data.get("retry_delay")
        return 10 if value is None else value

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
                retries=data.get("retries") or 0,
                retry_delay=data.get("retry_delay"),
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
