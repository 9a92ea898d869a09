"""The deploy gate: the pure rule as a table, then against real windows (driven through the services), freezes and
the site phase, with the decision and who asked audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.choices import Phase
from ersen_ops.core.errors import PermissionRefused
from maintenance import services
from maintenance.choices import ChecklistPhase, ItemKey, MaintenanceType, WindowStatus
from maintenance.models import Approval
from maintenance.policy import FreezeFacts, GateFacts, GateWindow, deploy_gate
from maintenance.services import deploy_gate as gate
from tests.factories import ComponentFactory, UserFactory
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import JAN_TUE_0200, FreezePeriodFactory, utc

NOW = JAN_TUE_0200 + timedelta(minutes=10)
API, WEB = "API", "Website"
FREEZE = FreezeFacts(name="Holiday freeze", start=NOW - timedelta(hours=1), end=NOW + timedelta(days=1))
OLD_FREEZE = FreezeFacts(name="Last week", start=NOW - timedelta(days=8), end=NOW - timedelta(days=7))


def w(type=MaintenanceType.ROUTINE, status=WindowStatus.IN_PROGRESS, components=(API,), open_items=(), **kw):
    kw.setdefault("eta", NOW + timedelta(minutes=50))
    return GateWindow(
        public_id=kw.pop("public_id", "mnt_one"),
        title=kw.pop("title", "Deploy 2.4"),
        type=type,
        status=status,
        components=frozenset(components),
        open_before_items=tuple(open_items),
        **kw,
    )


# case id, facts, allowed, refused_by, words the reasons must contain
CASES = [
    ("no window", GateFacts(Phase.POSTLAUNCH, (API,)), False, ("window",), ["none is in progress on API"]),
    (
        "routine window complete",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(),)),
        True,
        (),
        ["Routine window “Deploy 2.4” (mnt_one) is in progress on API; its “before” checklist is complete"],
    ),
    (
        "window misses a component",
        GateFacts(Phase.POSTLAUNCH, (API, WEB), windows=(w(),)),
        False,
        ("window",),
        ["No in-progress maintenance window covers Website", "routine (24 h notice"],
    ),
    (
        "two windows cover the two components",
        GateFacts(Phase.POSTLAUNCH, (API, WEB), windows=(w(), w(components=(WEB,), public_id="mnt_two"))),
        True,
        (),
        ["in progress on API;", "(mnt_two) is in progress on Website"],
    ),
    (
        "open before items",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(open_items=("Backup completed and verified",)),)),
        False,
        ("checklist",),
        ["has 1 “before” item(s) not done: “Backup completed and verified”"],
    ),
    (
        "routine inside a freeze",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(),), freezes=(FREEZE,)),
        False,
        ("freeze",),
        ["Deploys are frozen", "“Holiday freeze”", "Only an emergency window"],
    ),
    (
        "a freeze that is over",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(),), freezes=(OLD_FREEZE,)),
        True,
        (),
        [],
    ),
    (
        "urgent inside a freeze",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(type=MaintenanceType.URGENT),), freezes=(FREEZE,)),
        False,
        ("freeze",),
        ["Deploys are frozen"],
    ),
    (
        "urgent with open items",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(type=MaintenanceType.URGENT, open_items=("Rollback",)),)),
        False,
        ("checklist",),
        ["Urgent window"],
    ),
    (
        "emergency justified: open items and a freeze",
        GateFacts(
            Phase.POSTLAUNCH,
            (API,),
            windows=(w(type=MaintenanceType.EMERGENCY, open_items=("Backup",), justification="Payments down"),),
            freezes=(FREEZE,),
        ),
        True,
        (),
        ["justified: “Payments down”", "overridden by the emergency justification"],
    ),
    (
        "emergency without justification",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(type=MaintenanceType.EMERGENCY, open_items=("Backup",)),)),
        False,
        ("checklist",),
        ["An emergency window may go ahead with a written justification"],
    ),
    (
        "named window only scheduled",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(status=WindowStatus.SCHEDULED),), window="mnt_one"),
        False,
        ("window",),
        ["is scheduled, not in progress"],
    ),
    (
        "named window unknown",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(),), window="mnt_nope"),
        False,
        ("window",),
        ["There is no maintenance window mnt_nope"],
    ),
    (
        "named window does not cover",
        GateFacts(
            Phase.POSTLAUNCH,
            (WEB,),
            windows=(w(), w(components=(WEB,), public_id="mnt_two")),
            window="mnt_one",
        ),
        False,
        ("window",),
        ["(mnt_one) does not cover Website"],
    ),
    (
        "past its ETA",
        GateFacts(Phase.POSTLAUNCH, (API,), windows=(w(eta=NOW - timedelta(minutes=5)),)),
        True,
        (),
        ["is past its ETA", "5 min ago"],
    ),
    (
        "unknown component",
        GateFacts(Phase.POSTLAUNCH, (), unknown_components=("payments",)),
        False,
        ("components",),
        ["Unknown component(s): payments"],
    ),
    ("no component", GateFacts(Phase.POSTLAUNCH, ()), False, ("components",), ["Name at least one component"]),
    (
        "pre-launch without a window",
        GateFacts(Phase.PRELAUNCH, (API,)),
        True,
        (),
        ["Pre-launch: deploys may go out on the fly", "Discord/Slack if downtime > 5 min"],
    ),
    (
        "pre-launch inside a freeze",
        GateFacts(Phase.PRELAUNCH, (API,), freezes=(FREEZE,)),
        False,
        ("freeze",),
        ["which holds before launch too"],
    ),
]


@pytest.mark.parametrize("facts, allowed, refused_by, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_deploy_gate_rule(facts, allowed, refused_by, words):
    decision = deploy_gate(facts, NOW)
    assert decision.allowed is allowed
    assert decision.refused_by == refused_by
    text = " ".join(decision.reasons)
    for word in words:
        assert word in text
    assert decision.reasons, "every decision says why"


# --- against real windows and freezes -----------------------------------------------------------------------


@pytest.fixture
def components(db):
    return {"database": ComponentFactory(name="Database"), "website": ComponentFactory(name="Website")}


def started_window(make_window, users, components, *, approve=True):
    window = make_window(on_call_engineer=users["approver"], components=[components["database"]])
    services.window_schedule(actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(days=2))
    if approve:
        approve_phase(
            window, ChecklistPhase.BEFORE, [users["approver"], users["admin"]], now=JAN_TUE_0200 - timedelta(hours=1)
        )
    services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    return window


def ask(actor, components, **kwargs):
    with time_machine.travel(NOW, tick=False):
        return gate.deploy_gate_check(actor=actor, components=components, **kwargs)


def gate_events():
    return list(AuditEvent.objects.filter(action__startswith="maintenance.deploy_gate").order_by("id"))


@pytest.mark.django_db
def test_gate_allows_a_deploy_under_a_started_routine_window_and_audits_who_asked(
    make_window, users, components, postlaunch
):
    before = ask(users["operator"], "database")
    assert not before.allowed and before.refused_by == ("window",)
    window = started_window(make_window, users, components)
    decision = ask(users["operator"], "Database", details={"token": "eot_abc1", "ci_job": "deploy#42"})
    assert decision.allowed, decision.reasons
    assert decision.windows == (window.public_id,)
    denied, allowed = gate_events()
    assert denied.action == gate.ACTION_DENIED and denied.target_id == ""
    assert allowed.action == gate.ACTION_ALLOWED
    assert allowed.actor == users["operator"] and allowed.target_id == str(window.pk)
    assert allowed.data["components"] == ["Database"] and allowed.data["phase"] == Phase.POSTLAUNCH
    assert allowed.data["asked_by"] == {"token": "eot_abc1", "ci_job": "deploy#42"}
    assert allowed.data["reasons"] == list(decision.reasons)


@pytest.mark.django_db
def test_gate_denies_a_component_the_window_does_not_cover(make_window, users, components, postlaunch):
    window = started_window(make_window, users, components)
    decision = ask(users["operator"], "database,website", window=window.public_id)
    assert not decision.allowed
    assert f"({window.public_id}) does not cover Website" in decision.reasons[0]


@pytest.mark.django_db
def test_gate_denies_once_a_before_approval_is_revoked(make_window, users, components, postlaunch):
    window = started_window(make_window, users, components)
    approval = Approval.objects.filter(item__window=window, item__key=ItemKey.BACKUP_VERIFIED).first()
    services.checklist_revoke(actor=users["admin"], approval=approval, reason="Backup file is empty", now=NOW)
    decision = ask(users["operator"], "database")
    assert decision.refused_by == ("checklist",)
    assert "“Backup completed and verified”" in decision.reasons[0]


@pytest.mark.django_db
def test_gate_denies_inside_a_freeze_declared_after_the_start(make_window, users, components, postlaunch):
    started_window(make_window, users, components)
    FreezePeriodFactory(name="Black Friday", start=NOW - timedelta(minutes=5), end=NOW + timedelta(days=1))
    decision = ask(users["operator"], "database")
    assert decision.refused_by == ("freeze",) and "“Black Friday”" in decision.reasons[0]


@pytest.mark.django_db
def test_gate_lets_a_justified_emergency_deploy_inside_a_freeze(make_window, users, components, postlaunch):
    start = NOW - timedelta(minutes=5)
    FreezePeriodFactory(name="Black Friday", start=start - timedelta(hours=1), end=NOW + timedelta(days=1))
    window = make_window(
        type=MaintenanceType.EMERGENCY,
        planned_start=start,
        planned_end=start + timedelta(hours=1),
        components=[components["database"]],
    )
    services.window_schedule(actor=users["operator"], window=window, now=start, justification="Payments down")
    services.window_start(actor=users["operator"], window=window, now=start, justification="Payments down")
    decision = ask(users["operator"], "database")
    assert decision.allowed, decision.reasons
    assert "overridden by the emergency justification" in " ".join(decision.reasons)


@pytest.mark.django_db
def test_gate_prelaunch_allows_without_a_window_with_the_downtime_reminder(users, components, prelaunch):
    decision = ask(users["operator"], ["database", "website"])
    assert decision.allowed
    assert decision.reasons[-1].startswith("Still notify via Discord/Slack if downtime > 5 min")


@pytest.mark.django_db
def test_gate_names_unknown_components(users, components, postlaunch):
    decision = ask(users["operator"], "database, payments")
    assert decision.refused_by[0] == "components" and "payments" in decision.reasons[0]


@pytest.mark.django_db
def test_gate_needs_the_view_permission(users, components, postlaunch):
    with pytest.raises(PermissionRefused) as exc:
        ask(UserFactory(), "database")
    assert "maintenance.view_maintenancewindow" in str(exc.value)
    assert ask(users["viewer"], "database").allowed is False  # a viewer may ask
    assert gate_events()[-1].actor == users["viewer"]


@pytest.mark.django_db
def test_gate_query_count_does_not_grow_with_windows(make_window, users, components, postlaunch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(names):
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
            gate.deploy_gate_check(actor="system:test", components=names)
        return [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]

    started_window(make_window, users, components)
    one = statements("database")
    for n in range(3):
        other = ComponentFactory(name=f"Worker {n}")
        make_window(components=[other], planned_start=utc(2027, 1, 14, 10, 0))
    FreezePeriodFactory(name="Later", start=NOW + timedelta(days=3), end=NOW + timedelta(days=4))
    many = statements("database,website,worker 0,worker 1,worker 2")
    # phase, components, windows + their components + open items, freezes, the audit target; then the audit append
    assert len(many) == len(one) <= 10
