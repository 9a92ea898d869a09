"""The service kit (who may act, lock, clean, transitions, the clock) and the wording module (durations, dates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from ersen_ops.core import kit, wording
from ersen_ops.core.errors import DomainError, InvalidTransition, PermissionRefused
from ersen_ops.status.models import Component
from maintenance.choices import TRANSITIONS, WindowStatus
from maintenance.models import MaintenanceWindow
from tests.factories import ComponentFactory

PERM = "maintenance.approve_checklistitem"


# --- require -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_needs_the_permission_and_the_message_names_it(users):
    kit.require(users["approver"], PERM, what="approving checklist items")  # approvers have it
    with pytest.raises(PermissionRefused) as exc:
        kit.require(users["viewer"], PERM, what="approving checklist items")
    assert str(exc.value) == (
        "Your role does not allow approving checklist items (it needs the permission maintenance.approve_checklistitem)."
    )
    assert exc.value.code == "permission"


@pytest.mark.django_db
def test_staff_status_alone_grants_nothing(users):
    users["viewer"].is_staff = True
    with pytest.raises(PermissionRefused):
        kit.require(users["viewer"], PERM, what="approving")


def test_a_named_system_actor_acts_on_the_systems_authority_unless_the_service_says_otherwise():
    kit.require("system:checks", PERM, what="approving")
    with pytest.raises(PermissionRefused, match=r"^Approving needs a signed-in user .* \(system:checks is a system"):
        kit.require("system:checks", PERM, what="approving", system=False)


def test_nobody_is_the_unnamed_system_unless_the_service_wants_a_name():
    kit.require(None, PERM, what="approving")
    with pytest.raises(
        PermissionRefused, match=r"^Running runbooks needs a signed-in user with the permission x\.y\.$"
    ):
        kit.require(None, "x.y", what="running runbooks", nobody=False)


def test_an_anonymous_visitor_is_refused_unless_the_form_is_public():
    with pytest.raises(PermissionRefused, match="needs a signed-in user"):
        kit.require(AnonymousUser(), PERM, what="approving")
    kit.require(AnonymousUser(), PERM, what="subscribing", anonymous=True)


def test_a_token_name_is_not_the_system():
    with pytest.raises(PermissionRefused, match=r"token:deploy-bot is an API token, not the system"):
        kit.require("token:deploy-bot", PERM, what="approving")


@pytest.mark.parametrize(
    ("actor", "kind"),
    [(None, "nobody"), ("system:x", "system"), ("cli", "system"), ("token:a", "token"), (AnonymousUser(), "anonymous")],
)
def test_actor_kinds(actor, kind):
    assert kit.actor_kind(actor) == kind


# --- lock, clean, transitions, clock ---------------------------------------------------------------------


@pytest.mark.django_db
def test_lock_rereads_the_row_by_instance_or_primary_key(django_assert_num_queries):
    component = ComponentFactory(name="API")
    Component.objects.filter(pk=component.pk).update(description="changed elsewhere")
    with transaction.atomic(), django_assert_num_queries(2):
        assert kit.lock(component).description == "changed elsewhere"
        assert kit.lock(component.pk, model=Component).pk == component.pk


@pytest.mark.django_db
def test_clean_and_save_turns_validation_errors_into_one_readable_refusal():
    component = Component(name="two\nlines")
    with pytest.raises(DomainError) as exc:
        kit.clean_and_save(component)
    assert exc.value.message == "The component is not valid:"
    assert exc.value.details and exc.value.details[0].startswith("name: ")
    assert component.pk is None
    ok = Component(name="Fine")
    kit.clean_and_save(ok, lead="The change was refused:")
    assert ok.pk is not None


def test_transition_or_raise_names_the_action_the_state_and_where_it_is_possible_from():
    window = MaintenanceWindow(title="DB upgrade", status=WindowStatus.DRAFT)
    kit.transition_or_raise(window, WindowStatus.SCHEDULED, TRANSITIONS, "schedule")
    with pytest.raises(InvalidTransition) as exc:
        kit.transition_or_raise(window, WindowStatus.IN_PROGRESS, TRANSITIONS, "start", noun="window")
    assert str(exc.value) == "Cannot start “DB upgrade”: it is draft (only a scheduled window can be in progress)."
    window.status = WindowStatus.COMPLETED
    with pytest.raises(InvalidTransition, match=r"it is completed \(only a draft or scheduled maintenance window can"):
        kit.transition_or_raise(window, WindowStatus.CANCELLED, TRANSITIONS, "cancel")
    assert kit.can_transition(TRANSITIONS, WindowStatus.DRAFT, WindowStatus.CANCELLED)


def test_now_or_takes_the_callers_clock():
    fixed = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert kit.now_or(fixed) is fixed
    with time_machine.travel(fixed, tick=False):
        assert kit.now_or(None) == fixed


# --- wording ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(seconds=0), "0 s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=1, minutes=5), "1 h 5 min"),
        (timedelta(hours=19, minutes=12, seconds=59), "19 h 12 min"),
        (timedelta(hours=24), "24 h"),
        (timedelta(hours=47, minutes=59), "47 h 59 min"),
        (timedelta(hours=48), "2 d"),
        (timedelta(days=2, hours=3), "2 d 3 h"),
        (-timedelta(minutes=3), "3 min"),
        (90, "1 min"),
        (None, "—"),
    ],
)
def test_one_duration_formatter(delta, text):
    assert wording.duration(delta) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (45, "45 seconds"), (3600, "1 hour"), (7500, "2 hours 5 minutes"), (86400 * 3, "3 days")],
)
def test_the_public_pages_spell_the_units_out(seconds, text):
    assert wording.duration(seconds, words=True) == text


NOON_UTC = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_dates_in_pacific_utc_and_the_operators_zone():
    assert wording.in_pacific(NOON_UTC) == "Tue 2026-12-01 04:00 PST"
    assert wording.in_utc(NOON_UTC) == "2026-12-01 12:00 UTC"
    assert wording.in_pacific(None) == "—"
    with time_machine.travel(NOON_UTC, tick=False), timezone.override("Europe/Berlin"):
        assert wording.in_local(NOON_UTC) == "Tue 2026-12-01 13:00 CET"
        assert wording.operator_zone_differs()
        assert (
            wording.local_and_pacific_text(NOON_UTC + timedelta(days=1)) == "Wed 2 Dec 13:00 CET · Wed 2 Dec 04:00 PST"
        )


def test_a_pacific_range_names_the_end_date_only_when_it_differs():
    start = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
    assert wording.pacific_range(start, start + timedelta(hours=1)) == "Tue 2027-01-12 02:00–03:00 PST"
    assert wording.pacific_range(start, start + timedelta(hours=23)) == (
        "Tue 2027-01-12 02:00 PST – Wed 2027-01-13 01:00 PST"
    )
