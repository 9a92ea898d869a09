"""An audit log that cannot be shortened unnoticed: the TRUNCATE trigger, the witness file, audit_verify."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils.module_loading import import_string

from ersen_ops.audit import witness
from ersen_ops.audit.choices import AuditAction
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.services import audit_checkpoint, chain_pending, record
from ersen_ops.core.scheduling import declared
from ersen_ops.notifications.models import NotificationDelivery

pytestmark = pytest.mark.django_db

WITNESSED_AT = datetime(2026, 12, 1, 21, 35, tzinfo=UTC)


@pytest.fixture(autouse=True)
def witness_file(settings, tmp_path):
    settings.OPS_AUDIT_WITNESS_FILE = str(tmp_path / "witness" / "audit-witness.log")
    (tmp_path / "witness").mkdir()
    return tmp_path / "witness" / "audit-witness.log"


def _events(n: int) -> list[AuditEvent]:
    """n events, committed and linked (the test's transaction never commits: the sequencer is called by hand)."""
    events = [record(actor="system", action=f"step.{i}", data={"i": i}) for i in range(n)]
    chain_pending()
    return list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq"))


def _witnessed(n: int) -> list[AuditEvent]:
    with time_machine.travel(WITNESSED_AT, tick=False):
        events = _events(n)
        audit_checkpoint()
    return events


def _verify_failure() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    return str(excinfo.value)


def test_checkpoint_appends_the_chain_head_to_the_witness_file(witness_file, capsys):
    events = _witnessed(3)
    _events(2)  # after the checkpoint: not yet witnessed
    head = events[-1]
    assert witness_file.read_text() == f"2026-12-01T21:35:00Z event={head.pk} count=3 hash={head.hash}\n"
    with time_machine.travel(WITNESSED_AT, tick=False):
        call_command("audit_verify")
    out = capsys.readouterr().out
    assert "audit chain intact: 5 events verified" in out
    assert f"holds everything the witness of 2026-12-01 21:35 UTC saw (3 events ending at #{head.pk})" in out
    assert "2 newer events not yet witnessed" in out


def test_checkpoints_append_and_never_rewrite(witness_file):
    _witnessed(1)
    first = witness_file.read_text()
    later = _events(2)[-1]
    line, problem = audit_checkpoint()
    assert problem == ""
    assert witness_file.read_text().startswith(first)
    assert witness.latest() == line and line.event_id == later.pk and line.count == 3


def test_an_empty_log_is_witnessed_as_such(witness_file):
    line, problem = audit_checkpoint()
    assert (line.event_id, line.count, line.hash, problem) == (0, 0, "", "")
    assert witness_file.read_text().endswith(" event=0 count=0 hash=-\n")


def test_a_torn_last_line_is_ignored(witness_file):
    _witnessed(2)
    with witness_file.open("a") as handle:
        handle.write("2026-12-01T21:40:00Z event=99")  # a crash mid-write: no newline
    assert witness.latest().at == WITNESSED_AT


def test_audit_verify_without_a_witness_says_the_length_is_unchecked(capsys):
    _events(2)
    call_command("audit_verify")
    assert "witness: none yet" in capsys.readouterr().out


def test_the_checkpoint_is_scheduled_every_five_minutes(witness_file):
    (spec,) = [s for s in declared() if s.name == "audit.checkpoint"]
    assert spec.func == "ersen_ops.audit.tasks.checkpoint" and spec.minutes == 5
    assert import_string(spec.func)() == witness_file.read_text().strip()


def _without_triggers(sql: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts leave deferred FK checks pending
        # What a tamperer with the table owner's or a superuser's rights can do.
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def test_plain_truncate_is_refused_by_the_trigger(postgres):
    event = record(actor="system", action="protected")
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_the_newest_events_fails_audit_verify_naming_the_missing_range(postgres):
    events = _witnessed(6)
    first_gone, head = events[4], events[5]
    _without_triggers("DELETE FROM audit_auditevent WHERE id >= %s", [first_gone.pk])
    call_command_message = _verify_failure()
    assert call_command_message == (
        f"audit log shorter than its witness ({witness.witness_path()}): "
        f"events #{first_gone.pk}–#{head.pk} are missing: the witness of 2026-12-01 21:35 UTC saw 6 events "
        f"ending at #{head.pk} with hash {head.hash[:16]}…, the table ends at #{events[3].pk} (4 up to #{head.pk})"
    )


def test_new_events_after_a_deletion_do_not_hide_it(postgres):
    events = _witnessed(4)
    _without_triggers("DELETE FROM audit_auditevent WHERE id = %s", [events[3].pk])
    newer = _events(2)  # the chain goes on from the surviving head and verifies
    message = _verify_failure()
    assert f"event #{events[3].pk} is missing" in message
    assert f"then goes on from #{newer[0].pk} (2 newer)" in message


def test_truncating_the_table_fails_audit_verify(postgres):
    events = _witnessed(5)
    _without_triggers("TRUNCATE audit_auditevent")
    message = _verify_failure()
    assert f"events #1–#{events[-1].pk} are missing" in message
    assert "saw 5 events" in message and message.endswith("the table is empty")


def test_checkpoint_after_shortening_keeps_the_evidence_and_audits_it(postgres, witness_file):
    events = _witnessed(3)
    before = witness_file.read_text()
    _without_triggers("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    line, problem = audit_checkpoint()
    assert witness_file.read_text() == before, "a shorter head must not become the latest witness"
    assert line.event_id == events[-1].pk and f"event #{events[-1].pk} is missing" in problem
    mismatch = AuditEvent.objects.get(action=AuditAction.WITNESS_MISMATCH)
    assert mismatch.actor_name == "system:audit-checkpoint" and mismatch.data["problem"] == problem


def test_each_checkpoint_is_posted_to_team_ops_when_configured(settings):
    _witnessed(2)
    assert not NotificationDelivery.objects.exists(), "unconfigured: nothing recorded, not even 'skipped'"
    settings.SLACK_TEAM_OPS_WEBHOOK_URL = "https://hooks.slack.example/services/T/B/secret"
    line, _ = audit_checkpoint()
    delivery = NotificationDelivery.objects.get()
    assert delivery.channel == "slack_team_ops" and delivery.event == "audit.witness"
    assert line.format() in delivery.message
    assert AuditEvent.objects.filter(action="notification.queued", actor_name="system:audit-checkpoint").exists()


def test_an_unreadable_witness_file_is_a_clear_error(witness_file):
    witness_file.mkdir()  # a directory where the file should be
    message = _verify_failure()
    assert message.startswith(f"cannot read the witness file {witness_file}: ")
