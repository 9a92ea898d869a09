"""Per-object workflow buttons for the admin (the python.org sponsors-admin pattern).

A ModelAdmin lists `WorkflowAction`s. Each gets a URL
`<object_id>/do/<name>/`: GET shows a confirmation page that changes nothing
(with an optional form), POST performs it by calling a service. Permission is
checked in the view (staff status never implies a custom permission: 403
otherwise); buttons appear on the change form only for actions the state
allows, and the ones the user may not do are shown disabled with the reason.
A DomainError from the service becomes a form error on the confirmation page;
the operator never sees a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeData

from ersen_ops.core.access.reauth import reauthenticated
from ersen_ops.core.errors import DomainError, PermissionRefused
from ersen_ops.core.kit import require

# Context-manager factories wrapped around every action's perform(); each yields a callable that, after the
# action, returns (a sentence to add to the success message, whether it is a warning). A registry, so core
# needs no higher app: the notifications app registers "what the notifications came to" (outcomes.action_report).
ACTION_REPORTERS: list[Callable] = []


def register_action_reporter(factory: Callable) -> None:
    if factory not in ACTION_REPORTERS:
        ACTION_REPORTERS.append(factory)


@contextlib.contextmanager
def reported_action():
    """Run an action inside every registered reporter; yields a list filled with (text, warning) afterwards."""
    results: list[tuple[str, bool]] = []
    with contextlib.ExitStack() as stack:
        reporters = [stack.enter_context(factory()) for factory in ACTION_REPORTERS]
        yield results
    results.extend(r() for r in reporters)


def report_message(request, message: str, results: list[tuple[str, bool]]) -> None:
    """The action's message plus what its reporters say, as a warning if any of them reports a problem."""
    text = " ".join([message, *(t for t, _ in results if t)])
    (messages.warning if any(w for _, w in results) else messages.success)(request, text)


class FinalReason(str):
    """Why an action is unavailable for good (the object reached a final state): said as "no longer possible",
    never "not possible yet". Return `final("…")` from `unavailable_reason` for such states."""


def final(reason: str) -> FinalReason:
    return FinalReason(reason)


@dataclass
class WorkflowAction:
    name: str
    label: str
    permission: str
    perform: Callable  # perform(request, obj, cleaned_data) -> str | None (success message)
    available: Callable = lambda obj: True  # noqa: E731 - the state allows it
    unavailable_reason: Callable = lambda obj: ""  # noqa: E731 - why not, for the disabled button
    # A short pointer for the button bar when the full reason is written elsewhere on the page (said once).
    unavailable_summary: Callable | None = None
    form_class: type[forms.Form] | None = None
    describe: Callable = lambda obj: ""  # noqa: E731 - "what will happen", shown on the confirmation page
    touches_production: bool = False
    css_class: str = ""
    initial: Callable = lambda request, obj: {}  # noqa: E731
    extra: dict = field(default_factory=dict)
    # A production action: needs a fresh second factor (ersen_ops.core.access.reauth); a bool or obj -> bool.
    reauthenticate: bool | Callable = False

    def needs_reauthentication(self, obj) -> bool:
        return bool(self.reauthenticate(obj) if callable(self.reauthenticate) else self.reauthenticate)


def role_refusal(permission: str) -> str:
    """'Your role does not include this action. Operators can do it.' (who to ask, at 2 AM)."""
    from ersen_ops.core.roles import roles_with

    holders = roles_with(permission)
    who = f" {' and '.join(holders)} can do it." if holders else " Only an administrator can."
    return "Your role does not include this action." + who


class WorkflowAdminMixin:
    workflow_actions: list[WorkflowAction] = []
    change_form_template = "admin/workflow/change_form.html"

    def get_workflow_actions(self, request, obj) -> list[WorkflowAction]:
        return list(self.workflow_actions)

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        custom = [
            path(
                "<path:object_id>/do/<str:action>/",
                self.admin_site.admin_view(self.workflow_view),
                name="{}_{}_workflow".format(*info),
            )
        ]
        return custom + super().get_urls()

    def workflow_buttons(self, request, obj) -> list[dict]:
        buttons = []
        if obj is None:
            return buttons
        info = self.model._meta.app_label, self.model._meta.model_name
        for action in self.get_workflow_actions(request, obj):
            state_ok = action.available(obj)
            allowed = request.user.has_perm(action.permission)
            if not state_ok and not action.unavailable_reason(obj):
                continue
            reason = ""
            if not allowed:
                reason = role_refusal(action.permission)
            elif not state_ok:
                reason = (action.unavailable_summary or action.unavailable_reason)(obj)
            buttons.append(
                {
                    "name": action.name,
                    "label": action.label,
                    "url": reverse("admin:{}_{}_workflow".format(*info), args=[obj.pk, action.name]),
                    "enabled": state_ok and allowed,
                    "reason": reason,
                    "final": isinstance(reason, FinalReason),
                    "role_refused": not allowed,
                    "permission": action.permission,
                    "css_class": action.css_class,
                }
            )
        return buttons

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["workflow_buttons"] = self.workflow_buttons(request, obj)
        buttons = context["workflow_buttons"]
        context["workflow_blocked"] = [b for b in buttons if not b["enabled"] and not b["role_refused"]]
        refused = [b for b in buttons if b["role_refused"]]
        if refused:
            from ersen_ops.core.roles import roles_with

            holders = sorted({role for b in refused for role in roles_with(b["permission"])})
            context["workflow_role_refusal"] = (
                f"Your role does not include {', '.join(b['label'] for b in refused)}"
                + (f" ({' / '.join(holders)} can do {'it' if len(refused) == 1 else 'them'})." if holders else ".")
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def workflow_view(self, request, object_id, action):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        actions = {a.name: a for a in self.get_workflow_actions(request, obj)}
        if action not in actions:
            raise PermissionDenied("Unknown action.")
        wf = actions[action]
        try:  # the services' rule and words (ersen_ops.core.kit), shown on the 403 page
            require(request.user, wf.permission, what=f"“{wf.label}”")
        except PermissionRefused as exc:
            raise PermissionDenied(str(exc)) from None
        change_url = reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_change", args=[obj.pk])
        form_class = wf.form_class or forms.Form
        error = ""
        refused = False
        if request.method == "POST":
            form = form_class(request.POST, request.FILES)
            if form.is_valid():
                guard = (
                    reauthenticated(request, f"{wf.label}: {obj}")
                    if wf.needs_reauthentication(obj)
                    else contextlib.nullcontext()
                )
                try:
                    with guard, reported_action() as results:
                        message = wf.perform(request, obj, form.cleaned_data)
                except DomainError as exc:
                    error = str(exc)
                    form.add_error(None, error)
                else:
                    report_message(request, message or f"{wf.label}: done.", results)
                    return HttpResponseRedirect(change_url)
        else:
            form = form_class(initial=wf.initial(request, obj))
            if not wf.available(obj):
                error = wf.unavailable_reason(obj) or f"“{wf.label}” is not possible in the current state."
                refused = True  # no Confirm button: the page says why, and leads back
        description = wf.describe(obj)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"{wf.label}: {obj}",
            "action": wf,
            "form": form,
            "error": error,
            "refused": refused,
            "description": description,
            "description_is_html": isinstance(description, SafeData),  # plain text gets line breaks
            "change_url": change_url,
        }
        return TemplateResponse(
            request, "admin/workflow/confirm.html", context, status=400 if request.method == "POST" else 200
        )
