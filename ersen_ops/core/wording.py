"""How times and durations read, everywhere: the one duration formatter and the date formatters.

Durations (`duration`): "45 s", "12 min", "19 h 12 min", "24 h", "2 d 3 h" — seconds under a minute, minutes under
an hour, hours and minutes under 48 h, then days and hours; always rounded down, never zero-padded. The public
pages spell the units out (`duration(…, words=True)`: "60 minutes", "2 hours 5 minutes").

Dates: Pacific (`OPS_MAINTENANCE_TZ`, the zone of the maintenance policy and the announcements), UTC (storage,
logs) and the operator's own zone (reported by the browser in a cookie, activated by `OperatorTimezoneMiddleware`).
`local_and_pacific_text` is the operator's sentence form ("13:00 CET · 04:00 PST"); `in_pacific` the
announcements' ("Tue 2026-12-01 02:00 PST"). The template filters in `core/templatetags/ops.py` are these.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as _django_format

EMPTY = "—"

# Django's date format characters these formatters use, as strftime directives (English, as the portal is): the
# same text as django.utils.dateformat at a tenth of the cost (a list page formats hundreds of times).
_STRFTIME = {"D": "%a", "M": "%b", "Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "s": "%S", "T": "%Z"}


@functools.lru_cache(maxsize=64)
def _as_strftime(fmt: str) -> str | None:
    """The strftime pattern for a Django format string, or None when it uses a character not in _STRFTIME."""
    out, chars = [], iter(fmt)
    for char in chars:
        if char == "\\":
            out.append(next(chars, "").replace("%", "%%"))
        elif char in _STRFTIME:
            out.append(_STRFTIME[char])
        elif char == "j":
            out.append("\x01j")  # day of the month without a leading zero: filled in below
        elif char.isalpha():
            return None
        else:
            out.append(char.replace("%", "%%"))
    return "".join(out)


def dformat(value: datetime, fmt: str) -> str:
    """django.utils.dateformat.format, through strftime when the format allows (the common ones do)."""
    pattern = _as_strftime(fmt)
    if pattern is None or value.tzinfo is None:
        return _django_format(value, fmt)
    return value.strftime(pattern).replace("\x01j", str(value.day))

# Below this many hours a duration is said in hours and minutes ("24 h" notice, "47 h 59 min"), from it in days.
DAYS_FROM_HOURS = 48

_UNITS = {"d": ("day", "days"), "h": ("hour", "hours"), "min": ("minute", "minutes"), "s": ("second", "seconds")}


def duration(delta: timedelta | float | None, *, words: bool = False, empty: str = EMPTY) -> str:
    """A length of time (a timedelta, or seconds) as people read it; the sign is dropped."""
    if delta is None:
        return empty
    seconds = int(abs(delta.total_seconds() if isinstance(delta, timedelta) else delta))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if not hours and not minutes:
        parts = [(secs, "s")]
    elif not hours:
        parts = [(minutes, "min")]
    elif hours < DAYS_FROM_HOURS:
        parts = [(hours, "h"), (minutes, "min")]
    else:
        days, hours = divmod(hours, 24)
        parts = [(days, "d"), (hours, "h")]
    parts = [parts[0], *[(n, unit) for n, unit in parts[1:] if n]]
    if words:
        return " ".join(f"{n} {_UNITS[unit][n != 1]}" for n, unit in parts)
    return " ".join(f"{n} {unit}" for n, unit in parts)


# --- dates -------------------------------------------------------------------------------------------------


def maintenance_zone() -> zoneinfo.ZoneInfo:
    """The zone of the maintenance policy and the announcements (America/Los_Angeles)."""
    return zoneinfo.ZoneInfo(settings.OPS_MAINTENANCE_TZ)


def pacific(dt: datetime | None) -> datetime | None:
    return timezone.localtime(dt, maintenance_zone()) if dt is not None else None


def in_pacific(dt: datetime | None, fmt: str = "D Y-m-d H:i T") -> str:
    """A datetime in the maintenance zone, e.g. 'Tue 2026-12-01 02:00 PST' (Django date format characters)."""
    return dformat(pacific(dt), fmt) if dt is not None else EMPTY


def in_utc(dt: datetime | None, fmt: str = "Y-m-d H:i \\U\\T\\C") -> str:
    """'2026-12-01 10:00 UTC'."""
    return dformat(timezone.localtime(dt, UTC), fmt) if dt is not None else EMPTY


def in_local(dt: datetime | None, fmt: str = "D Y-m-d H:i T") -> str:
    """A datetime in the operator's zone (the browser's, else UTC)."""
    return dformat(timezone.localtime(dt), fmt) if dt is not None else EMPTY


def _zone_key(zone) -> str:
    return getattr(zone, "key", str(zone))


def operator_zone_differs() -> bool:
    """True when the operator's zone (from the browser) is neither Pacific nor UTC: then it is shown too."""
    return _zone_key(timezone.get_current_timezone()) not in (settings.OPS_MAINTENANCE_TZ, "UTC", "Etc/UTC")


def local_and_pacific_text(dt: datetime | None, *, now: datetime | None = None) -> str:
    """The operator's zone and Pacific, compact: 'Fri 11:42 CET · 02:42 PST'; one time when the operator is on
    Pacific time. The date is shown when it is not today in that zone."""
    if dt is None:
        return EMPTY
    now = now or timezone.now()

    def short(local: datetime) -> str:
        today = timezone.localtime(now, local.tzinfo).date()
        return dformat(local, "H:i T" if local.date() == today else "D j M H:i T")

    parts = []
    if _zone_key(timezone.get_current_timezone()) != settings.OPS_MAINTENANCE_TZ:
        parts.append(short(timezone.localtime(dt)))  # the operator's zone (UTC without the browser's cookie)
    parts.append(short(pacific(dt)))
    return " · ".join(dict.fromkeys(parts))


def pacific_range(start: datetime, end: datetime) -> str:
    """'Tue 2027-01-12 02:00–03:00 PST' (the end's date only when it differs)."""
    s, e = pacific(start), pacific(end)
    if s.date() == e.date() and s.tzname() == e.tzname():
        return f"{dformat(s, 'D Y-m-d H:i')}–{dformat(e, 'H:i T')}"
    return f"{in_pacific(s)} – {in_pacific(e)}"
