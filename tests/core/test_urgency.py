"""One mapping from time left to a colour class, for every countdown (server-rendered and ticking)."""

from datetime import UTC, datetime, timedelta

import pytest

from ersen_ops.core.display import countdown, urgency_class


@pytest.mark.parametrize(
    ("left", "css"),
    [
        (timedelta(seconds=-1), "breached"),
        (timedelta(0), "due-within-hour"),
        (timedelta(minutes=15), "due-within-hour"),
        (timedelta(minutes=59, seconds=59), "due-within-hour"),
        (timedelta(hours=1), "due-within-day"),
        (timedelta(hours=23), "due-within-day"),
        (timedelta(hours=24), "due-later"),
        (timedelta(days=19), "due-later"),
    ],
)
def test_time_left_maps_to_one_colour_class(left, css):
    assert urgency_class(left) == css


def test_a_p3_due_in_23_hours_and_a_p4_due_in_19_days_are_coloured_differently():
    assert urgency_class(timedelta(hours=23)) != urgency_class(timedelta(days=19))


def test_a_countdown_carries_its_class_and_the_steps_the_browser_reapplies():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    html = countdown(now + timedelta(hours=23), "due in 23 h 00 min", title="response due", now=now)
    assert 'class="ops-countdown due-within-day"' in html
    assert 'data-urgency="[[0,&quot;breached&quot;],[3600,&quot;due-within-hour&quot;],' in html
    assert "[null,&quot;due-later&quot;]]" in html
    assert ">due in 23 h 00 min</span>" in html
