"""The seed's Communication Template, rendered exactly from a window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maintenance.messages import announcement_text, when_text
from maintenance.models import MaintenanceWindow
from tests.maintenance.factories import JAN_TUE_0200, JUL_TUE_0200, utc


def window(
    start,
    minutes=60,
    impact="The dashboard is read-only; widgets keep working.",
    reason="Deploying release 2.4 with a database migration.",
):
    return MaintenanceWindow(
        title="Deploy 2.4",
        planned_start=start,
        planned_end=start + timedelta(minutes=minutes),
        impact=impact,
        reason=reason,
    )


def test_announcement_for_a_fixed_window_is_exactly_the_seed_template():
    assert announcement_text(window(JAN_TUE_0200)) == (
        "## Scheduled Maintenance\n"
        "\n"
        "**When**: Tuesday, January 12, 2027 02:00-03:00 PST\n"
        "**Duration**: ~60 minutes\n"
        "**Impact**: The dashboard is read-only; widgets keep working.\n"
        "**Reason**: Deploying release 2.4 with a database migration.\n"
        "\n"
        "We'll update this page when complete."
    )


def test_announcement_in_summer_says_pdt():
    text = announcement_text(window(JUL_TUE_0200, minutes=90))
    assert "**When**: Tuesday, July 13, 2027 02:00-03:30 PDT\n**Duration**: ~90 minutes\n" in text


def test_announcement_keeps_text_as_written_not_html_escaped():
    text = announcement_text(
        window(JAN_TUE_0200, impact="Login & payments <5 min> unavailable", reason='Patch "CVE-2027-1"')
    )
    assert "**Impact**: Login & payments <5 min> unavailable\n" in text
    assert '**Reason**: Patch "CVE-2027-1"\n' in text


def test_when_spanning_midnight_names_both_dates():
    assert when_text(utc(2027, 1, 14, 7, 0), utc(2027, 1, 14, 9, 0)) == (
        "Wednesday, January 13, 2027 23:00 PST - Thursday, January 14, 2027 01:00 PST"
    )


@pytest.mark.django_db
def test_scheduling_keeps_the_published_text_on_the_window(scheduled_window):
    assert scheduled_window.announcement == announcement_text(scheduled_window)
    assert scheduled_window.announcement.startswith(
        "## Scheduled Maintenance\n\n**When**: Tuesday, January 12, 2027 02:00-03:00 PST"
    )
