"""Admin forms for maintenance. Validation calls the same rule functions as the services (never a copy)."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from maintenance import policy, services
from maintenance.choices import ItemKey, WindowStatus
from maintenance.models import Approval, ChecklistItem, MaintenanceWindow

# Which form field a broken scheduling rule belongs to.
RULE_FIELD = {
    "notice": "planned_start",
    "slot": "planned_start",
    "past": "planned_end",
    "end_after_start": "planned_end",
    "overlap": "components",
    "components": "components",
    "freeze": "planned_start",
}


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = list(policy.WINDOW_FIELDS)
        help_texts = {
            "planned_start": "In your time zone (shown beside in Pacific and UTC); the slot rule is checked in Pacific time.",
            "components": "Affected components: the status page shows them under maintenance; two windows may not overlap on one.",
        }

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("planned_start"), cleaned.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", "The planned end must be after the planned start.")
            return cleaned
        window = self.instance
        # A scheduled window is re-checked against the policy when its timing, type or components change.
        if window.pk and window.status == WindowStatus.SCHEDULED and start and end and "components" in cleaned:
            changed = set(self.changed_data) & services.SCHEDULE_FIELDS
            if changed:
                probe = MaintenanceWindow(
                    pk=window.pk,
                    public_id=window.public_id,
                    title=cleaned.get("title") or window.title,
                    type=cleaned.get("type") or window.type,
                    status=window.status,
                    planned_start=start,
                    planned_end=end,
                    emergency_justification=window.emergency_justification,
                )
                for violation in services.schedule_violations(
                    probe, now=timezone.now(), component_ids=[c.pk for c in cleaned["components"]]
                ):
                    field = RULE_FIELD.get(violation.rule)
                    self.add_error(field if field in self.fields else None, violation.message)
        return cleaned


class JustificationForm(forms.Form):
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Emergency windows only: why the rules are overridden (a freeze, or starting with open “before” items). Kept on the window and in the summary.",
    )


class EtaForm(forms.Form):
    new_eta = forms.DateTimeField(
        label="New estimated completion",
        help_text="In your time zone. Published to the window's channels and kept in the ETA history.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Why it changes (published).")


class CancelForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why it is cancelled. Published if the window was announced.",
    )


class NoFieldsForm(forms.Form):
    """A confirmation with nothing to fill in."""


def approve_form_for(window: MaintenanceWindow, user=None, items=None) -> type[forms.Form]:
    """An approval form offering only the items `user` can approve now, each with what it needs beside it.

    `items` (the window's checklist with approvals prefetched) saves the queries when the caller has them.
    """
    from maintenance import selectors

    items = selectors.checklist_items(window) if items is None else items
    phase = services.current_phase()
    offered = {}
    if user is not None:
        for item in items:
            if item.key == ItemKey.ON_CALL_CONFIRMED:
                continue  # the on-call engineer's own action, on their own page
            if not services.approval_refusals(window, item, user, phase=phase):
                offered[item.pk] = services.item_requirements(window, item, user, phase=phase)

    class ApproveForm(forms.Form):
        item = forms.ModelChoiceField(
            queryset=ChecklistItem.objects.filter(window=window, pk__in=list(offered)).order_by("order", "id"),
            label="Checklist item",
            widget=forms.RadioSelect,
            empty_label=None,
            help_text="Only the items you can approve now are offered (not done, open in this state, not yet "
            "approved by you).",
        )
        note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Optional.")
        evidence_url = forms.URLField(
            required=False,
            label="Evidence (URL)",
            assume_scheme="https",
            help_text="Optional link: a dashboard, a ticket, a backup listing.",
        )

    def label(i):
        needs = offered.get(i.pk) or []
        text = f"{i.get_phase_display()}: {i.text}"
        return f"{text} — {'; '.join(needs)}" if needs else text

    ApproveForm.base_fields["item"].label_from_instance = label
    ApproveForm.offered = offered
    return ApproveForm


def revoke_form_for(window: MaintenanceWindow) -> type[forms.Form]:
    class RevokeForm(forms.Form):
        approval = forms.ModelChoiceField(
            queryset=Approval.objects.filter(item__window=window, revoked_at__isnull=True).select_related("item"),
            label="Approval",
        )
        reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Why it is revoked (kept).")

    RevokeForm.base_fields["approval"].label_from_instance = lambda a: f"{a.item.text} — {a.actor_name}"
    return RevokeForm
