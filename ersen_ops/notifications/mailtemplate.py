"""One serialised email, many recipients: the bytes of a batch's message built once, per-recipient parts filled in.

A fan-out sends the same message to every recipient but for a few ASCII values: the To address, the Message-ID,
the Date and the signed links. Building an `EmailMessage` and letting `email.generator` fold and encode every header
costs ~8 ms of CPU per message; substituting those values into bytes serialised once costs microseconds.

`MessageTemplate(data, placeholders)` takes the message exactly as Django serialises it (`message().as_bytes(
linesep="\\r\\n")`) with each personal value replaced by a placeholder (an ASCII word such as `__ERSEN_TO_…__`), and
`render(values)` returns the bytes Django would have produced with those values:

- in a body line, the value goes in as it is (the 8bit/7bit body Django writes for lines up to 998 octets);
- in a header, too, unless the line grows past 78 characters: then the generator (email.policy.compat32, Django's)
  moves a value it cannot fold to a continuation line (`Name: \\r\\n <value>`), which `render` does the same way.

`render` returns None (the caller builds that message the usual way) when a value could make Django encode the
message differently: not plain ASCII, a line break, a line past 998 octets (Django switches the body to
quoted-printable), or a header past 78 characters with whitespace, a comma or a semicolon (where the generator
would fold it inside the value). A template whose placeholder sits in a quoted-printable or base64 part, or on a
header's continuation line, is refused when it is made (`TemplateRefused`).
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable, Mapping

# RFC 5322 line limit (Django switches a body to quoted-printable beyond it).
LINE_LIMIT = 998
# A header line longer than this is folded by the generator where it can: at whitespace, a comma or a semicolon.
FOLD_AT = 78
_FOLDS = re.compile(rb"[\s,;]")
_HEADER = re.compile(rb"^([!-9;-~]+: ?)(.*)$", re.S)
_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


class TemplateRefused(ValueError):
    """The serialised message cannot take per-recipient values by substitution."""


class MessageTemplate:
    def __init__(self, data: bytes, placeholders: Iterable[str]):
        names = sorted({p.encode("ascii") for p in placeholders}, key=len, reverse=True)
        if not names:
            raise TemplateRefused("no placeholder")
        self._pattern = re.compile(b"(" + b"|".join(re.escape(n) for n in names) + b")")
        self._check_parts(data)
        found: set[str] = set()
        # Literal bytes, or (header prefix | None for a body line, pieces): pieces alternate literal / placeholder.
        self._items: list[bytes | tuple[bytes | None, list[bytes | str]]] = []
        boundaries = {b"--" + b for b in _BOUNDARY.findall(data)}
        in_headers, literal = True, []
        for line in data.split(b"\r\n"):
            if not self._pattern.search(line):
                literal.append(line)
                if line == b"":
                    in_headers = False
                elif line in boundaries:
                    in_headers = True
                continue
            if in_headers:
                header = _HEADER.match(line)
                if header is None:
                    raise TemplateRefused("a placeholder is on a folded header line")
                prefix, value = header.groups()
            else:
                prefix, value = None, line
            pieces: list[bytes | str] = [
                piece.decode("ascii") if index % 2 else piece for index, piece in enumerate(self._pattern.split(value))
            ]
            found.update(p for p in pieces if isinstance(p, str))
            self._items.append(b"\r\n".join([*literal, b""]))
            self._items.append((prefix, pieces))
            literal = [b""]  # the line break after this line
        self._items.append(b"\r\n".join(literal))
        self.placeholders = frozenset(found)

    def _check_parts(self, data: bytes) -> None:
        """Refuse a placeholder inside a quoted-printable / base64 part (its bytes there are not the value's)."""
        for part in email.message_from_bytes(data).walk():
            if part.is_multipart():
                continue
            encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
            if encoding in ("quoted-printable", "base64") and self._pattern.search(
                part.get_payload(decode=True) or b""
            ):
                raise TemplateRefused(f"a placeholder is inside a {encoding} part")

    def render(self, values: Mapping[str, str]) -> bytes | None:
        """The message with `values` in place of the placeholders; None when one of them could change the encoding."""
        encoded: dict[str, bytes] = {}
        for name in self.placeholders:
            value = values.get(name)
            if value is None or not value.isascii() or "\r" in value or "\n" in value:
                return None
            encoded[name] = value.encode("ascii")
        out = []
        for item in self._items:
            if type(item) is bytes:
                out.append(item)
                continue
            prefix, pieces = item
            value = b"".join(encoded[p] if type(p) is str else p for p in pieces)
            if prefix is None:
                if len(value) > LINE_LIMIT:
                    return None
                out.append(value)
            elif len(prefix) + len(value) <= FOLD_AT:
                out.append(prefix + value)
            elif _FOLDS.search(value) or len(value) + 1 > LINE_LIMIT:
                return None
            else:  # one word too long for the line: the generator puts it on a continuation line of its own
                out.append(prefix + b"\r\n " + value)
        return b"".join(out)
