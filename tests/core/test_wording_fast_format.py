"""The date formatter's strftime path gives Django's text exactly (it exists only because it is ten times faster)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateformat import format as django_format

from ersen_ops.core.wording import dformat

FORMATS = [
    "D Y-m-d H:i T",
    "Y-m-d H:i \\U\\T\\C",
    "Y-m-d H:i:s \\U\\T\\C",
    "H:i T",
    "D j M H:i T",
    "D Y-m-d H:i",
    "D, j M Y H:i T",
    "N j, Y",  # not on the fast path: Django's own
]
ZONES = [UTC, zoneinfo.ZoneInfo("America/Los_Angeles"), zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("Asia/Kolkata")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_fast_path_writes_what_django_writes(fmt):
    start = datetime(2026, 3, 7, 23, 59, 30, tzinfo=UTC)
    for step in range(0, 24 * 400, 37):  # across both DST changes and month and year ends
        moment = start + timedelta(hours=step)
        for zone in ZONES:
            local = moment.astimezone(zone)
            assert dformat(local, fmt) == django_format(local, fmt), (fmt, local)
