"""Checklist evidence: every check of the window's components passed N times since the window started / completed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks import services
from checks.models import CheckEvidence
from maintenance import services as maintenance_services
from maintenance.choices import ChecklistPhase, ItemKey
from maintenance.models import ChecklistItem
from tests.checks.conftest import feed
from tests.maintenance.conftest import (  # noqa: F401 (fixtures)
    _checklist_templates,
    approve_phase,
    make_window,
    postlaunch,
    scheduled_window,
)
from tests.maintenance.factories import JAN_TUE_0200

pytestmark = pytest.mark.django_db


def item(window, key):
    return ChecklistItem.objects.get(window=window, key=key)


def test_passing_checks_prove_test_core_after_the_start_and_smoke_test_after_completion(scheduled_window, users,  # noqa: F811
                                                                                        make_check, settings):
    settings.OPS_CHECK_EVIDENCE_PASSES = 3
    window = scheduled_window
    database = window.components.get()
    login = make_check(name="login", components=[database])
    api = make_check(name="api", components=[database])
    approve_phase(window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]],
                  now=JAN_TUE_0200 - timedelta(hours=1))
    maintenance_services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    window.refresh_from_db()
    start = window.actual_start
    feed(login, True, at=start - timedelta(minutes=1))  # before the start: does not count
    for i in range(3):
        feed(login, True, at=start + timedelta(minutes=1 + i))
    for i in range(2):
        feed(api, True, at=start + timedelta(minutes=1 + i))
    assert services.evidence_sweep(now=start + timedelta(minutes=5)) == {}  # api passed 2 of 3 times
    assert item(window, ItemKey.TEST_CORE).done_at is None
    feed(api, True, at=start + timedelta(minutes=4))
    assert services.evidence_sweep(now=start + timedelta(minutes=6)) == {"evidence": 1}
    test_core = item(window, ItemKey.TEST_CORE)
    assert test_core.done_at is not None
    approval = test_core.approvals.get()
    assert approval.user is None and "passed 3 times since the window started" in approval.evidence_summary
    evidence = CheckEvidence.objects.get(item_key=ItemKey.TEST_CORE)
    assert {r["check"]: len(r["result_ids"]) for r in evidence.results} == {"login": 3, "api": 3}
    assert services.evidence_sweep(now=start + timedelta(minutes=7)) == {}  # once

    approve_phase(window, ChecklistPhase.DURING, [users["approver"], users["admin"]],
                  now=start + timedelta(minutes=20))
    maintenance_services.window_complete(actor=users["operator"], window=window, now=start + timedelta(minutes=30))
    window.refresh_from_db()
    end = window.actual_end
    for i in range(3):
        feed(login, True, at=end + timedelta(minutes=1 + i))
        feed(api, True, at=end + timedelta(minutes=1 + i))
    assert services.evidence_sweep(now=end + timedelta(minutes=5)) == {"evidence": 1}
    smoke = item(window, ItemKey.SMOKE_TEST)
    assert smoke.done_at is not None
    assert "since the window completed" in smoke.approvals.get().evidence_summary
