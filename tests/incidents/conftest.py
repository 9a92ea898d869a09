from __future__ import annotations

from datetime import UTC, date, datetime

import pytest


@pytest.fixture(autouse=True)
def sprint_calendar(settings):
    """Sprints of 14 days from Monday 2026-01-05 (midnight Pacific), P1 re-page every 5 minutes."""
    settings.OPS_SPRINT_START = date(2026, 1, 5)
    settings.OPS_SPRINT_DAYS = 14
    settings.OPS_P1_REPAGE_MINUTES = 5
    settings.OPS_MAINTENANCE_TZ = "America/Los_Angeles"


@pytest.fixture
def t0():
    return datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
