"""One answer for every workflow action (`policy.window_actions`): the window page's button, the control room's next
action and the service agree, for each action, when it is open and when a rule refuses it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.sites import site
from django.test import RequestFactory

from controlroom import dashboard
from ersen_ops.core.errors import InvalidTransition, PolicyViolation
from maintenance import policy, services
from maintenance.choices import ChecklistPhase, MaintenanceType, WindowStatus
from maintenance.models import MaintenanceWindow
from tests.maintenance.conftest import approve_phase, schedule
from tests.maintenance.factories import JAN_TUE_0200

pytestmark = pytest.mark.django_db


def button(window, user, action, now):
    """The window page's button for `action` (None: not shown in this state)."""
    request = RequestFactory().get("/")
    request.user = user
    with time_machine.travel(now, tick=False):
        obj = MaintenanceWindow.objects.get(pk=window.pk)
        buttons = {b["name"]: b for b in site._registry[MaintenanceWindow].workflow_buttons(request, obj)}
    return buttons.get(action)


def next_action(window, user, now) -> str | None:
    """The control room's next action on `window` (its label), or None."""
    rows = dashboard.windows_in_progress(now=now, user=user) + dashboard.windows_upcoming(
        now=now, user=user, phase=services.current_phase()
    )
    [row] = [r for r in rows if r.window.pk == window.pk]
    return row.next_action["label"] if row.next_action else None


def refusals(window, action, now):
    return services.window_actions(MaintenanceWindow.objects.get(pk=window.pk), now=now)[action]


def test_schedule_open_and_refused_agree(make_window, users, postlaunch):
    operator = users["operator"]
    good = make_window(title="Good slot")
    now = JAN_TUE_0200 - timedelta(days=2)
    assert refusals(good, "schedule", now) == []
    assert button(good, operator, "schedule", now)["enabled"]
    assert next_action(good, operator, now) == "Schedule…"
    schedule(good, operator, now=now)
    assert good.status == WindowStatus.SCHEDULED

    late = make_window(title="Too late", planned_start=JAN_TUE_0200 + timedelta(days=2))
    now = JAN_TUE_0200 + timedelta(days=1, hours=12)  # 12 h before: a routine window needs 24 h notice
    [*_, notice] = refusals(late, "schedule", now)
    assert notice.rule in ("notice", "slot")
    shown = button(late, operator, "schedule", now)
    assert not shown["enabled"] and "see “Protocol check” below" in shown["reason"]
    assert next_action(late, operator, now) is None
    with pytest.raises(PolicyViolation) as exc:
        services.window_schedule(actor=operator, window=late, now=now)
    assert all(v.message in str(exc.value) for v in refusals(late, "schedule", now))


def test_start_open_and_refused_agree(scheduled_window, users):
    operator, window, now = users["operator"], scheduled_window, JAN_TUE_0200 + timedelta(minutes=1)
    [gate] = refusals(window, "start", now)
    assert gate.rule == "gate"
    shown = button(window, operator, "start", now)
    assert not shown["enabled"] and shown["reason"] == gate.message
    assert next_action(window, operator, now) is None
    with pytest.raises(PolicyViolation) as exc:
        services.window_start(actor=operator, window=window, now=now)
    assert gate.message in str(exc.value)

    approve_phase(window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=now)
    assert refusals(window, "start", now) == []
    assert button(window, operator, "start", now)["enabled"]
    assert next_action(window, operator, now) == "Start…"
    services.window_start(actor=operator, window=window, now=now)
    assert window.status == WindowStatus.IN_PROGRESS


def test_an_emergency_start_offers_what_a_justification_lifts(make_window, users, postlaunch):
    operator = users["operator"]
    window = make_window(type=MaintenanceType.EMERGENCY, on_call_engineer=users["approver"])
    now = JAN_TUE_0200
    services.window_schedule(actor=operator, window=window, now=now - timedelta(minutes=5))
    [gate] = refusals(window, "start", now)
    assert policy.overridable("start", window.type, gate)
    assert button(window, operator, "start", now)["enabled"]
    assert next_action(window, operator, now) == "Start…"
    with pytest.raises(PolicyViolation):
        services.window_start(actor=operator, window=window, now=now)
    services.window_start(actor=operator, window=window, now=now, justification="Payments are down right now")
    assert window.status == WindowStatus.IN_PROGRESS


@pytest.fixture
def running(scheduled_window, users):
    approve_phase(scheduled_window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200)
    services.window_start(actor=users["operator"], window=scheduled_window, now=JAN_TUE_0200)
    return scheduled_window


def test_complete_open_and_refused_agree(running, users):
    operator, now = users["operator"], JAN_TUE_0200 + timedelta(minutes=30)
    [gate] = refusals(running, "complete", now)
    shown = button(running, operator, "complete", now)
    assert not shown["enabled"] and shown["reason"] == gate.message
    assert next_action(running, operator, now) is None
    with pytest.raises(PolicyViolation) as exc:
        services.window_complete(actor=operator, window=running, now=now)
    assert gate.message in str(exc.value)

    # "Update ETA if running long" counts as done while within the ETA: the same for all three.
    approve_phase(running, ChecklistPhase.DURING, [users["approver"]], now=now, skip_keys=["update_eta"])
    assert refusals(running, "complete", now) == []
    assert button(running, operator, "complete", now)["enabled"]
    assert next_action(running, operator, now) == "Complete…"
    services.window_complete(actor=operator, window=running, now=now)
    assert running.status == WindowStatus.COMPLETED


def test_update_eta_open_only_while_running(running, scheduled_window, users, make_window):
    operator, overdue = users["operator"], JAN_TUE_0200 + timedelta(hours=2)
    assert refusals(running, "update_eta", overdue) == []
    assert button(running, operator, "update_eta", overdue)["enabled"]
    assert next_action(running, operator, overdue) == "Update ETA…"
    services.window_update_eta(
        actor=operator, window=running, new_eta=overdue + timedelta(hours=1), reason="Migration slow", now=overdue
    )

    draft = make_window(title="Not running")
    now = JAN_TUE_0200 - timedelta(days=2)
    [state] = refusals(draft, "update_eta", now)
    assert state.rule == "state" and button(draft, operator, "update_eta", now) is None
    with pytest.raises(InvalidTransition) as exc:
        services.window_update_eta(actor=operator, window=draft, new_eta=now + timedelta(days=3), reason="x", now=now)
    assert str(exc.value) == state.message


def test_cancel_open_and_refused_agree(running, make_window, users):
    operator, now = users["operator"], JAN_TUE_0200 + timedelta(minutes=5)
    [state] = refusals(running, "cancel", now)
    assert "only a draft, scheduled window can be cancelled" in state.message
    assert button(running, operator, "cancel", now) is None
    with pytest.raises(InvalidTransition) as exc:
        services.window_cancel(actor=operator, window=running, reason="No longer needed", now=now)
    assert str(exc.value) == state.message

    draft = make_window(title="Plans changed")
    assert refusals(draft, "cancel", now) == [] and button(draft, operator, "cancel", now)["enabled"]
    services.window_cancel(actor=operator, window=draft, reason="Plans changed", now=now)
    assert draft.status == WindowStatus.CANCELLED
    [history] = refusals(draft, "approve", now)
    assert history.message == "“Plans changed” is cancelled; its checklist is history."


def test_the_control_room_asks_in_bounded_queries(make_window, users, postlaunch, django_assert_max_num_queries):
    now = JAN_TUE_0200 - timedelta(days=2)
    for n in range(3):
        make_window(title=f"Draft {n}", planned_start=JAN_TUE_0200 + timedelta(days=2 * n))
    windows = list(dashboard._window_queryset().filter(status=WindowStatus.DRAFT))
    with django_assert_max_num_queries(8):  # phase, freezes, other windows (+ components), templates, approvers
        actions = services.window_actions_many(windows, now=now)
    single = {w.pk: services.window_actions(w, now=now) for w in windows}
    assert {pk: {a: [v.rule for v in vs] for a, vs in acts.items()} for pk, acts in actions.items()} == {
        pk: {a: [v.rule for v in vs] for a, vs in acts.items()} for pk, acts in single.items()
    }
