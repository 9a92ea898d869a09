"""The audit log: hash chain, append-only (model, queryset and PostgreSQL trigger), audit_verify."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ersen_ops.audit.chain import compute_hash, content_digest, event_fields, link_hash
from ersen_ops.audit.models import AppendOnlyError, AuditEvent
from ersen_ops.audit.services import audit_checkpoint, chain_pending, record
from tests.factories import ComponentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_record_chains_each_event_to_its_predecessor():
    user = UserFactory(username="alice")
    component = ComponentFactory(name="API")
    first = record(
        actor=user, action="component.changed", target=component, data={"before": {"a": 1}, "after": {"a": 2}}
    )
    second = record(actor="system:worker", action="task.ran")
    # Linked after the commit (this test's transaction never commits, so the sequencer is called by hand).
    assert (first.seq, first.hash) == (None, None)
    assert chain_pending() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == ""
    assert second.prev_hash == first.hash
    # The database's sequencer hashes the same bytes as the Python verifier.
    assert first.digest == content_digest(event_fields(first))
    assert first.hash == link_hash("", first.digest)
    assert second.hash == link_hash(first.hash, content_digest(event_fields(second)))
    assert first.actor_name == "alice" and first.target_repr == "API" and first.target_id == str(component.pk)
    assert second.actor is None and second.actor_name == "system:worker"


def test_target_text_survives_deletion_of_the_target():
    component = ComponentFactory(name="Legacy widget")
    event = record(actor="system", action="component.deleted", target=component)
    component.delete()
    assert AuditEvent.objects.get(pk=event.pk).target_repr == "Legacy widget"


def test_request_id_and_remote_address_are_recorded_from_the_request(client, users):
    client.force_login(users["admin"])
    # The phase change goes through an audited service from the admin.
    from ersen_ops.core.services import site_settings_get

    site_settings_get()
    response = client.post(
        "/admin/core/sitesettings/1/change/",
        {"phase": "prelaunch"},
        HTTP_X_REQUEST_ID="req-12345678",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="site.phase_changed")
    assert event.request_id == "req-12345678"
    assert event.remote_addr == "10.1.2.3"
    assert {k: event.data[k] for k in ("before", "after", "reason")} == {
        "before": {"phase": "postlaunch"},
        "after": {"phase": "prelaunch"},
        "reason": "",
    }
    assert event.data["reauthenticated"] is True  # a fresh second factor (the login, just now)


def test_behind_the_proxy_the_recorded_address_is_the_clients(client, users, settings):
    from ersen_ops.core.services import site_settings_get

    site_settings_get()
    settings.BEHIND_PROXY = True
    client.force_login(users["admin"])
    client.post(
        "/admin/core/sitesettings/1/change/",
        {"phase": "prelaunch"},
        REMOTE_ADDR="10.0.0.2",  # Traefik
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9",
        HTTP_X_FORWARDED_PROTO="https",
        secure=True,
    )
    assert AuditEvent.objects.get(action="site.phase_changed").remote_addr == "203.0.113.9"


def test_events_cannot_be_changed_or_deleted_through_the_orm():
    event = record(actor="system", action="x")
    event.action = "y"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="y")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "x"


def test_audit_verify_counts_an_intact_chain(capsys):
    for i in range(5):
        record(actor="system", action=f"step.{i}", data={"i": i})
    call_command("audit_verify")
    assert "5 events verified" in capsys.readouterr().out


def _raw_update(sql: str, params: list):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The trigger protects the table; a tamperer with superuser rights can bypass it.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def test_audit_verify_names_the_first_tampered_event():
    events = [record(actor="system", action=f"step.{i}", data={"amount": i}) for i in range(4)]
    chain_pending()  # what the commit does
    with transaction.atomic():
        _raw_update("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"amount": 99}', events[2].pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    message = str(excinfo.value)
    assert f"event #{events[2].pk}" in message
    assert "does not match its content" in message


def test_audit_verify_names_the_event_whose_predecessor_is_missing():
    events = [record(actor="system", action=f"step.{i}") for i in range(4)]
    chain_pending()  # what the commit does
    with transaction.atomic():
        _raw_update("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    assert f"event #{events[2].pk}" in str(excinfo.value)
    assert "predecessor is missing" in str(excinfo.value)


def test_postgres_trigger_rejects_update_and_delete(postgres):
    event = record(actor="system", action="protected")
    for sql in (
        "UPDATE audit_auditevent SET action = 'changed' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "protected"


def test_concurrent_appends_from_two_threads_do_not_fork_the_chain(transactional_postgres):
    errors = []

    def writer(n):
        try:
            for i in range(25):
                with transaction.atomic():
                    record(actor=f"system:writer-{n}", action="concurrent", data={"i": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Every commit linked its events: nothing is left for a later sequencer, no position twice, none skipped.
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 51))
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prev_hashes) == 50
    assert len(set(prev_hashes)) == 50, "two events share a predecessor: the chain forked"
    call_command("audit_verify")


def test_the_sequencer_links_in_one_call_and_leaves_the_callers_commits_durable(transactional_postgres):
    """After a commit the procedure of migration 0006 links everything in one round trip; its links commit without
    waiting for the disk, but that setting stays inside its own transactions: the caller's next commit is synchronous."""
    with transaction.atomic():
        record(actor="system:writer", action="first")
        record(actor="system:writer", action="second")
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()  # linked by the commit's callback
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    # Committed but not linked (a crash between the two): the next call links it and says how many.
    other = connection.copy()  # a sequencer "at work" in another session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [0x45525345])
        record(actor="system:writer", action="third")  # autocommit: its own commit finds the lock taken
    finally:
        other.close()
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 1
    assert chain_pending() == 1
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == [1, 2, 3]
    call_command("audit_verify")


def test_events_from_before_the_digest_still_verify(postgres):
    """Events of the first design (hash over the content itself, no digest) verify beside the new ones."""
    legacy = AuditEvent(created_at=timezone.now(), actor_name="system", action="legacy.step", data={"i": 1})
    legacy.seq, legacy.prev_hash = 1, ""
    legacy.hash = compute_hash("", event_fields(legacy))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # as the rows were written before 0004
        legacy.save()
    record(actor="system", action="new.step")
    assert chain_pending() == 1
    newer = AuditEvent.objects.get(action="new.step")
    assert (newer.seq, newer.prev_hash) == (2, legacy.hash)
    call_command("audit_verify")


def test_the_trigger_lets_only_the_linking_through(postgres):
    """An unlinked event can receive its place in the chain once; its content can't change, linked or not."""
    event = record(actor="system", action="protected", data={"amount": 1})
    for sql in (
        "UPDATE audit_auditevent SET data = '{\"amount\": 2}', seq = 1, hash = 'x' WHERE id = %s",  # content too
        "UPDATE audit_auditevent SET action = 'changed' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    chain_pending()
    with pytest.raises(DatabaseError, match="append-only"):  # linked: not even its chain columns move again
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET seq = 7, hash = 'y' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert (event.seq, event.data) == (1, {"amount": 1})


def test_events_committed_but_not_linked_are_linked_by_the_checkpoint_and_verify(capsys, settings, tmp_path):
    """A crash between an event's commit and its linking leaves it unlinked, never lost: the next sequencer run
    (the checkpoint every few minutes, audit_verify, or any later commit) links it."""
    settings.OPS_AUDIT_WITNESS_FILE = str(tmp_path / "witness.log")
    for i in range(3):
        record(actor="system", action=f"step.{i}")
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 3
    audit_checkpoint()
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    record(actor="system", action="step.3")
    call_command("audit_verify")
    assert "audit chain intact: 4 events verified" in capsys.readouterr().out


def test_audit_verify_since_the_witness_reads_only_what_is_newer(capsys, settings, tmp_path):
    settings.OPS_AUDIT_WITNESS_FILE = str(tmp_path / "witness.log")
    for i in range(5):
        record(actor="system", action=f"old.{i}")
    audit_checkpoint()
    for i in range(2):
        record(actor="system", action=f"new.{i}")
    call_command("audit_verify", "--since-witness")
    out = capsys.readouterr().out
    assert "audit chain intact: 2 events verified after the witnessed head" in out and "(7 in the chain)" in out


def test_audit_verify_since_the_witness_still_refuses_a_rewritten_head(postgres, settings, tmp_path):
    settings.OPS_AUDIT_WITNESS_FILE = str(tmp_path / "witness.log")
    events = [record(actor="system", action=f"old.{i}") for i in range(3)]
    audit_checkpoint()
    with transaction.atomic():
        _raw_update("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    with pytest.raises(CommandError, match="shorter than its witness"):
        call_command("audit_verify", "--since-witness")


def test_audit_admin_is_read_only(client, users):
    record(actor="system", action="visible")
    client.force_login(users["admin"])
    listing = client.get("/admin/audit/auditevent/?q=visible")
    assert listing.status_code == 200 and b"visible" in listing.content
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    event = AuditEvent.objects.get(action="visible")
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
