"""Checklist approvals: permission, one live approval per person, separation of duties, facts, evidence, revocation."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError, PermissionRefused, PolicyViolation
from ersen_ops.notifications.models import NotificationDelivery
from maintenance import services
from maintenance.choices import ItemKey, WindowStatus
from maintenance.evidence import ChecklistEvidence
from maintenance.models import Approval, ApprovalRevocation, ChecklistItem
from tests.factories import user_with_role
from tests.maintenance.conftest import schedule
from tests.maintenance.factories import JAN_TUE_0200

pytestmark = pytest.mark.django_db

NOW = JAN_TUE_0200 - timedelta(hours=2)


def item(window, key):
    return ChecklistItem.objects.get(window=window, key=key)


def approval_events(window):
    return list(
        AuditEvent.objects.filter(target_id=str(window.pk), action__startswith="maintenance.checklist").order_by("id")
    )


def test_approver_approves_and_the_event_is_audited(scheduled_window, users):
    backup = item(scheduled_window, ItemKey.BACKUP_VERIFIED)
    approval = services.checklist_approve(
        actor=users["approver"], item=backup, note="pg_dump 2.1 GB, restored on staging", now=NOW
    )
    backup.refresh_from_db()
    assert backup.done_at == NOW and approval.actor_name == "approver"
    event = approval_events(scheduled_window)[-1]
    assert event.action == "maintenance.checklist.approved" and event.actor == users["approver"]
    assert event.data["item"] == "Backup completed and verified" and event.data["became_done"] is True


@pytest.mark.parametrize("role", ["operator", "viewer", "commander"])
def test_only_approvers_can_approve(scheduled_window, users, role):
    with pytest.raises(PermissionRefused):
        services.checklist_approve(
            actor=users[role], item=item(scheduled_window, ItemKey.SMOKE_TEST), note="x", now=NOW
        )
    assert not Approval.objects.filter(user=users[role]).exists()


def test_one_live_approval_per_user_per_item(scheduled_window, users):
    rollback = item(scheduled_window, ItemKey.ROLLBACK_PLAN)
    services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    assert "approver has already approved “Rollback plan documented”" in str(exc.value)
    assert Approval.objects.filter(item=rollback).count() == 1


def test_the_database_refuses_a_second_live_approval(scheduled_window, users):
    rollback = item(scheduled_window, ItemKey.ROLLBACK_PLAN)
    Approval.objects.create(item=rollback, user=users["approver"], actor_name="approver", approved_at=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(item=rollback, user=users["approver"], actor_name="approver", approved_at=NOW)
    # A revoked approval does not count: the user may approve again.
    Approval.objects.filter(item=rollback).update(revoked_at=NOW)
    Approval.objects.create(item=rollback, user=users["approver"], actor_name="approver", approved_at=NOW)
    assert Approval.objects.filter(item=rollback).count() == 2


def test_revocation_is_its_own_row_and_reopens_the_item(scheduled_window, users):
    rollback = item(scheduled_window, ItemKey.ROLLBACK_PLAN)
    approval = services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    with pytest.raises(PolicyViolation):
        services.checklist_revoke(actor=users["approver"], approval=approval, reason="")
    revocation = services.checklist_revoke(
        actor=users["approver"], approval=approval, reason="Plan was for 2.3, not 2.4", now=NOW + timedelta(minutes=5)
    )
    approval.refresh_from_db()
    rollback.refresh_from_db()
    assert approval.revoked_at == NOW + timedelta(minutes=5) and rollback.done_at is None
    assert ApprovalRevocation.objects.get() == revocation and revocation.reason == "Plan was for 2.3, not 2.4"
    assert Approval.objects.filter(item=rollback).count() == 1  # kept, never deleted
    assert [e.action for e in approval_events(scheduled_window)][-2:] == [
        "maintenance.checklist.approved",
        "maintenance.checklist.revoked",
    ]
    # and may approve again
    services.checklist_approve(actor=users["approver"], item=rollback, now=NOW + timedelta(minutes=10))
    rollback.refresh_from_db()
    assert rollback.done_at is not None


def test_only_the_approver_or_a_superuser_revokes(scheduled_window, users):
    other = user_with_role("approver2", "Approvers")
    approval = services.checklist_approve(
        actor=users["approver"], item=item(scheduled_window, ItemKey.ROLLBACK_PLAN), now=NOW
    )
    with pytest.raises(PermissionRefused):
        services.checklist_revoke(actor=other, approval=approval, reason="not mine")
    services.checklist_revoke(actor=users["admin"], approval=approval, reason="wrong window")


def test_owner_cannot_be_sole_approver_of_a_before_item_postlaunch(make_window, users, postlaunch):
    owner = users["admin"]  # a superuser: separation of duties applies to them too
    window = make_window(owner=owner, on_call_engineer=users["approver"])
    schedule(window, users["operator"])
    rollback = item(window, ItemKey.ROLLBACK_PLAN)
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=owner, item=rollback, now=NOW)
    assert "Separation of duties: you own this window" in str(exc.value)
    assert not rollback.approvals.exists()
    # another approver may; the owner may then add a second approval
    services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    services.checklist_approve(actor=owner, item=rollback, now=NOW)
    # after items are not "before" items: the owner may approve alone there (once completed)


def test_owner_may_co_approve_an_item_needing_two(make_window, users, postlaunch):
    owner = users["admin"]
    window = make_window(owner=owner)
    schedule(window, users["operator"])
    backup = item(window, ItemKey.BACKUP_VERIFIED)
    backup.required_approvals = 2
    backup.save()
    services.checklist_approve(actor=owner, item=backup, note="dump ok", now=NOW)
    backup.refresh_from_db()
    assert backup.done_at is None
    services.checklist_approve(actor=users["approver"], item=backup, note="restore ok", now=NOW)
    backup.refresh_from_db()
    assert backup.done_at is not None


def test_owner_alone_is_fine_pre_launch(make_window, users, prelaunch):
    window = make_window(owner=users["admin"])
    schedule(window, users["operator"])
    services.checklist_approve(actor=users["admin"], item=item(window, ItemKey.ROLLBACK_PLAN), now=NOW)
    assert item(window, ItemKey.ROLLBACK_PLAN).done_at is not None


def test_owner_self_approval_can_be_allowed_by_setting(make_window, users, postlaunch, settings):
    settings.OPS_OWNER_MAY_SELF_APPROVE = True
    window = make_window(owner=users["admin"])
    schedule(window, users["operator"])
    services.checklist_approve(actor=users["admin"], item=item(window, ItemKey.ROLLBACK_PLAN), now=NOW)
    assert item(window, ItemKey.ROLLBACK_PLAN).done_at is not None


def test_rollback_plan_item_needs_the_plan_and_shows_it(make_window, users, postlaunch):
    window = make_window(rollback_plan="")
    schedule(window, users["operator"])
    rollback = item(window, ItemKey.ROLLBACK_PLAN)
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    assert "only once the window's rollback plan is filled in" in str(exc.value)
    services.window_update(actor=users["operator"], window=window, rollback_plan="helm rollback api 41", now=NOW)
    approval = services.checklist_approve(actor=users["approver"], item=rollback, now=NOW)
    assert "helm rollback api 41" in approval.evidence_summary


def test_on_call_item_only_by_the_on_call_engineer(make_window, users, postlaunch):
    on_call = user_with_role("oncall", "Approvers")
    window = make_window(on_call_engineer=on_call)
    schedule(window, users["operator"])
    confirm = item(window, ItemKey.ON_CALL_CONFIRMED)
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=confirm, now=NOW)
    assert "Only the window's on-call engineer (oncall) can confirm being available." in str(exc.value)
    services.checklist_approve(actor=on_call, item=confirm, now=NOW)
    assert item(window, ItemKey.ON_CALL_CONFIRMED).done_at is not None


def test_backup_item_needs_evidence_from_a_person(scheduled_window, users):
    backup = item(scheduled_window, ItemKey.BACKUP_VERIFIED)
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=backup, now=NOW)
    assert "needs evidence" in str(exc.value)
    services.checklist_approve(
        actor=users["approver"], item=backup, evidence_url="https://backups.example/2027-01-12", now=NOW
    )


def test_automated_approvals_carry_evidence(scheduled_window):
    for key in (ItemKey.STATUS_SCHEDULED, ItemKey.ETA_COMMUNICATED):
        approval = item(scheduled_window, key).approvals.get()
        assert approval.user is None and approval.actor_name == "system:maintenance"
        assert isinstance(approval.evidence, NotificationDelivery)
        assert approval.evidence.channel == "status_page" and approval.evidence.event == "maintenance.scheduled"
        assert approval.evidence_summary


def test_system_approvals_on_start_and_completion_carry_the_deliveries(scheduled_window, users):
    from tests.maintenance.test_lifecycle import run_full_lifecycle

    window = run_full_lifecycle(scheduled_window, users)
    under = item(window, ItemKey.STATUS_UNDER_MAINTENANCE).approvals.get()
    assert under.evidence.event == "maintenance.started" and under.evidence.channel == "status_page"
    operational = item(window, ItemKey.STATUS_OPERATIONAL).approvals.get()
    assert operational.evidence.event == "maintenance.completed"
    not_long = item(window, ItemKey.UPDATE_ETA).approvals.get()
    assert not_long.actor_name == "system:maintenance" and "Not running long" in not_long.evidence_summary


def test_manual_approval_of_an_automated_item_needs_a_note(make_window, users, postlaunch):
    window = make_window()
    schedule(window, users["operator"])
    status = item(window, ItemKey.STATUS_SCHEDULED)
    services.checklist_revoke(
        actor=users["admin"], approval=status.approvals.get(), reason="page did not update", now=NOW
    )
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=status, now=NOW)
    assert "needs a note" in str(exc.value)
    services.checklist_approve(actor=users["approver"], item=status, note="Updated by hand on statuspage", now=NOW)


def test_during_items_wait_for_the_start(scheduled_window, users):
    with pytest.raises(PolicyViolation) as exc:
        services.checklist_approve(actor=users["approver"], item=item(scheduled_window, ItemKey.MONITOR_LOGS), now=NOW)
    assert "can be approved while the window is in progress; it is scheduled" in str(exc.value)


def verified_backup(window, **kwargs):
    from tests.runbooks.factories import ExecutionFactory

    defaults = {
        "status": "succeeded",
        "plan": [{"task": "backup_database"}],
        "result": {"path": "/backups/ersen-20270112.sql.gz", "size": 2147483648, "sha256": "ab" * 32, "verified": True},
    }
    return ExecutionFactory(window=window, **{**defaults, **kwargs})


def backup_evidence(execution, **kwargs):
    """Evidence as another app hands it over (runbooks builds the same from its own rule)."""
    defaults = {
        "item_key": ItemKey.BACKUP_VERIFIED,
        "summary": f"Backup /backups/ersen-20270112.sql.gz, sha256 {'ab' * 32}, verified by run {execution.pk}.",
        "source_kind": "runbooks.runbookexecution",
        "source_id": str(execution.pk),
    }
    return ChecklistEvidence(**{**defaults, **kwargs})


def test_evidence_approves_its_item_as_the_system_once(scheduled_window):
    execution = verified_backup(scheduled_window)
    evidence = backup_evidence(execution)
    first = services.checklist_record_evidence(window=scheduled_window, evidence=evidence, now=NOW)
    second = services.checklist_record_evidence(window=scheduled_window, evidence=evidence, now=NOW)
    assert first == second and first.actor_name == "system:maintenance" and first.user is None
    assert first.evidence == execution
    assert (
        "/backups/ersen-20270112.sql.gz" in first.evidence_summary and "sha256 " + "ab" * 32 in first.evidence_summary
    )
    assert item(scheduled_window, ItemKey.BACKUP_VERIFIED).done_at == NOW
    assert Approval.objects.filter(item__key=ItemKey.BACKUP_VERIFIED, item__window=scheduled_window).count() == 1
    event = approval_events(scheduled_window)[-1]
    assert event.actor_name == "system:maintenance" and event.data["evidence"] == f"runbookexecution #{execution.pk}"


def test_evidence_never_proves_what_maintenance_or_a_person_proves(scheduled_window):
    execution = verified_backup(scheduled_window)
    for key, words in (
        (ItemKey.STATUS_SCHEDULED, "proved by maintenance itself or by a person"),
        (ItemKey.ON_CALL_CONFIRMED, "proved by maintenance itself or by a person"),
        ("backup_done", "“backup_done” is not a checklist item"),
    ):
        with pytest.raises(PolicyViolation) as exc:
            services.checklist_record_evidence(
                window=scheduled_window, evidence=backup_evidence(execution, item_key=key), now=NOW
            )
        assert words in str(exc.value)
    with pytest.raises(DomainError) as exc:
        services.checklist_record_evidence(
            window=scheduled_window, evidence=backup_evidence(execution, source_kind="runbooks.nothing"), now=NOW
        )
    assert "Unknown kind of evidence “runbooks.nothing”" in str(exc.value)
    assert not item(scheduled_window, ItemKey.BACKUP_VERIFIED).approvals.exists()


def test_evidence_for_a_cancelled_window_is_ignored(scheduled_window, users):
    services.window_cancel(actor=users["operator"], window=scheduled_window, reason="Vendor postponed", now=NOW)
    evidence = backup_evidence(verified_backup(scheduled_window))
    assert services.checklist_record_evidence(window=scheduled_window, evidence=evidence, now=NOW) is None
    assert not item(scheduled_window, ItemKey.BACKUP_VERIFIED).approvals.exists()


def test_a_link_and_a_time_ride_along_with_the_evidence(scheduled_window):
    execution = verified_backup(scheduled_window)
    at = NOW - timedelta(minutes=5)
    evidence = backup_evidence(execution, url="https://backups.example/run/1", source_public_id="run_1", at=at)
    approval = services.checklist_record_evidence(window=scheduled_window, evidence=evidence, now=NOW)
    assert approval.evidence_url == "https://backups.example/run/1"
    event = approval_events(scheduled_window)[-1]
    assert event.data["evidence_public_id"] == "run_1" and event.data["evidence_at"]


def test_scheduling_asks_the_registered_providers(make_window, users, postlaunch, monkeypatch):
    from maintenance import evidence as registry

    window = make_window()
    execution = verified_backup(window, plan=[{"task": "restart_service"}])  # not a backup: runbooks offers nothing
    asked = []

    def provider(w, now):
        asked.append(w.pk)
        return backup_evidence(execution, item_key=ItemKey.TEST_CORE, summary="Health checks passed.")

    monkeypatch.setattr(registry, "_providers", {**registry._providers, ItemKey.TEST_CORE: [provider]})
    schedule(window, users["operator"])
    assert asked == [window.pk]
    assert item(window, ItemKey.TEST_CORE).approvals.get().evidence_summary == "Health checks passed."
    assert not item(window, ItemKey.BACKUP_VERIFIED).approvals.exists()


def test_a_backup_taken_before_scheduling_counts_when_the_window_is_scheduled(make_window, users, postlaunch):
    window = make_window()
    execution = verified_backup(window)
    schedule(window, users["operator"])
    approval = item(window, ItemKey.BACKUP_VERIFIED).approvals.get()
    assert approval.evidence == execution and item(window, ItemKey.BACKUP_VERIFIED).done_at is not None


# --- concurrency on PostgreSQL ----------------------------------------------------------------------------


def _race(targets):
    barrier = threading.Barrier(len(targets))
    results = []

    def run(fn):
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            results.append(("ok", fn()))
        except DomainError as exc:
            results.append(("refused", str(exc)))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_concurrent_approvals_by_the_same_user_leave_one_live_approval(transactional_postgres):
    from tests.factories import make_role_users
    from tests.maintenance.factories import MaintenanceWindowFactory

    users = make_role_users()
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"])
    rollback = item(window, ItemKey.ROLLBACK_PLAN)
    now = timezone.now()
    results = _race([lambda: services.checklist_approve(actor=users["approver"], item=rollback, now=now)] * 2)
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    assert Approval.objects.filter(item=rollback, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="maintenance.checklist.approved", data__item_id=rollback.pk).count() == 1


def test_two_concurrent_approvers_both_recorded_once(transactional_postgres):
    from tests.factories import make_role_users
    from tests.maintenance.factories import MaintenanceWindowFactory

    users = make_role_users()
    second = user_with_role("approver2", "Approvers")
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"])
    smoke = item(window, ItemKey.ROLLBACK_PLAN)
    smoke.required_approvals = 2
    smoke.save()
    now = timezone.now()
    results = _race(
        [
            lambda: services.checklist_approve(actor=users["approver"], item=smoke, now=now),
            lambda: services.checklist_approve(actor=second, item=smoke, now=now),
        ]
    )
    assert [r[0] for r in results] == ["ok", "ok"]
    smoke.refresh_from_db()
    assert smoke.done_at is not None
    assert Approval.objects.filter(item=smoke).count() == 2


def test_the_database_constraint_holds_without_the_service_lock(transactional_postgres):
    """Even two raw inserts racing each other cannot leave two live approvals by one user."""
    from tests.factories import make_role_users
    from tests.maintenance.factories import MaintenanceWindowFactory

    users = make_role_users()
    window = MaintenanceWindowFactory(owner=users["operator"])
    schedule(window, users["operator"])
    rollback = item(window, ItemKey.ROLLBACK_PLAN)
    now = timezone.now()
    outcomes = []
    barrier = threading.Barrier(2)

    def insert():
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                Approval.objects.create(item=rollback, user=users["approver"], actor_name="approver", approved_at=now)
            outcomes.append("inserted")
        except IntegrityError:
            outcomes.append("refused")
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=insert) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["inserted", "refused"]
    assert connection.vendor == "postgresql"
    assert Approval.objects.filter(item=rollback).count() == 1


def test_window_status_unchanged_by_refused_approval(scheduled_window, users):
    with pytest.raises(PolicyViolation):
        services.checklist_approve(
            actor=users["approver"], item=item(scheduled_window, ItemKey.BACKUP_VERIFIED), now=NOW
        )
    scheduled_window.refresh_from_db()
    assert scheduled_window.status == WindowStatus.SCHEDULED
