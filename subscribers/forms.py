"""Public forms: subscribe (email + optional components) and manage (components)."""

from __future__ import annotations

from django import forms

from subscribers import policy, selectors


def _component_field() -> forms.TypedMultipleChoiceField:
    return forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Components",
        help_text="Choose none to hear about everything.",
    )


class ComponentsForm(forms.Form):
    components = _component_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sections = selectors.public_component_choices()
        self.sections = sections
        # Grouped choices for the widget: ungrouped components first, then one group per heading.
        choices = []
        for heading, items in sections:
            if heading:
                choices.append((heading, items))
            else:
                choices.extend(items)
        self.fields["components"].choices = choices


class SubscribeForm(ComponentsForm):
    email = forms.CharField(
        max_length=320,
        label="Email address",
        error_messages={"required": policy.MESSAGE_EMAIL_EMPTY},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "required": True, "placeholder": "name@example.com"}),
    )
    field_order = ["email", "components"]

    def clean_email(self) -> str:
        address = self.cleaned_data.get("email", "")
        problem = policy.email_problem(address)
        if problem:
            raise forms.ValidationError(problem, code="invalid_email")
        return policy.normalise_email(address)


def _selected(form: forms.Form) -> set[int]:
    value = form["components"].value() or []
    try:
        return {int(v) for v in value}
    except (TypeError, ValueError):
        return set()


ComponentsForm.selected = property(_selected)
