"""Validators shared by every app's models and forms.

`validate_single_line` is on every one-line label (titles, names, subjects, component names, checklist
texts…): a line break there ends up in an email Subject, a feed title or a Slack heading, where it either
injects a header or stops the message. `one_line()` is its counterpart at send time, for rows written
before the rule existed.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# C0 controls (tab, CR, LF, NUL…), DEL, C1 controls, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_RUN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

SINGLE_LINE_MESSAGE = (
    "Must be a single line: line breaks, tabs and other control characters are not allowed "
    "(found %(char)s at character %(position)s)."
)


def _name(char: str) -> str:
    return f"U+{ord(char):04X}" + (f" {unicodedata.name(char)}" if unicodedata.name(char, "") else "")


@deconstructible(path="ersen_ops.core.validators.SingleLineValidator")
class SingleLineValidator:
    code = "single_line"

    def __call__(self, value) -> None:
        match = _CONTROL.search(str(value))
        if match:
            char = match.group(0)
            names = {"\r": "a carriage return (U+000D)", "\n": "a line break (U+000A)", "\t": "a tab (U+0009)"}
            raise ValidationError(
                SINGLE_LINE_MESSAGE,
                code=self.code,
                params={"char": names.get(char, _name(char)), "position": match.start() + 1},
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, SingleLineValidator)

    def __hash__(self) -> int:
        return hash(self.code)


validate_single_line = SingleLineValidator()


def one_line(text) -> str:
    """`text` with every run of line breaks/control characters replaced by one space (for sending old rows)."""
    return _CONTROL_RUN.sub(" ", str(text or "")).strip()
