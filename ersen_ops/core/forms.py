"""Form fields shared by every app's admin.

`LimitedJSONField` is the form field of every model JSONField in the admin (installed as the admin's
default in `CoreConfig.ready`): Django's own parses any size and depth, so 2,000 nested `{"a":` raised
RecursionError (a 500), and values PostgreSQL's jsonb cannot store (NUL, lone surrogates, Infinity)
failed at save time. Here each is a form error that names the limit.
"""

from __future__ import annotations

import math

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

JSON_MAX_CHARS = 10_000
JSON_MAX_DEPTH = 10


def _depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets nest deeper than `limit` (strings skipped), without parsing: no recursion."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _storable_problem(value) -> str | None:
    """What PostgreSQL's jsonb would refuse in a parsed value (iteratively: depth is already bounded)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "JSON text may not contain NUL characters (\\u0000)."
            if any("\ud800" <= c <= "\udfff" for c in item):
                return "JSON text may not contain unpaired surrogates (\\ud800–\\udfff)."
        elif isinstance(item, float) and not math.isfinite(item):
            return "JSON numbers must be finite (no NaN, Infinity or numbers beyond ±1.8e308)."
    return None


class LimitedJSONField(forms.JSONField):
    default_error_messages = {
        "too_long": f"JSON is too long: %(length)s characters; the limit is {JSON_MAX_CHARS:,}.",
        "too_deep": f"JSON is nested too deeply: more than {JSON_MAX_DEPTH} levels of [ ] or {{ }}; "
        f"the limit is {JSON_MAX_DEPTH}.",
    }

    def _check_raw(self, value: str) -> None:
        if len(value) > JSON_MAX_CHARS:
            raise ValidationError(
                self.error_messages["too_long"], code="too_long", params={"length": f"{len(value):,}"}
            )
        if _depth_exceeds(value, JSON_MAX_DEPTH):
            raise ValidationError(self.error_messages["too_deep"], code="too_deep")

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        self._check_raw(value)
        try:
            converted = super().to_python(value)
        except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None
        problem = _storable_problem(converted)
        if problem:
            raise ValidationError(problem, code="unstorable")
        return converted

    def bound_data(self, data, initial):
        # Re-displaying a refused value must not parse it again (the depth that broke to_python breaks here too).
        if isinstance(data, str) and not self.disabled:
            try:
                self._check_raw(data)
                value = super().bound_data(data, initial)
            except (ValidationError, ValueError, RecursionError):
                return InvalidJSONInput(data)
            # A lone surrogate parsed from "\ud800" cannot even be written back into the page (UTF-8).
            return InvalidJSONInput(data) if _storable_problem(value) else value
        return super().bound_data(data, initial)

    def has_changed(self, initial, data):
        try:
            return super().has_changed(initial, data)
        except ValidationError:
            return True
