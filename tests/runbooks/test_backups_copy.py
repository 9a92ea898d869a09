"""copy_backup_offhost between two real sshd sandboxes: the dump goes through the portal over SFTP, sha256sum runs on
the destination and must match the inventory; a corrupted transfer is caught there and the bad copy deleted; an
unpinned or disabled destination is refused before anything connects to it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks import library, remote, services
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from runbooks.models import Backup, BackupCopy, Host
from tests.conftest import require_program
from tests.runbooks.test_execution import launch_and_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _prelaunch(transactional_db):
    site_settings_set_phase(actor="system:test", phase="prelaunch")


@pytest.fixture(scope="module")
def offsite_sandbox(sandbox, tmp_path_factory):
    """A second sshd (its own host key) that accepts the portal's key: the off-host copy's destination."""
    from runbooks.sandbox import Sandbox

    box = Sandbox(tmp_path_factory.mktemp("offsite"), sshd=require_program("sshd", "/usr/sbin/sshd")).prepare()
    (box.root / "authorized_keys").write_text(Path(str(sandbox.client_key) + ".pub").read_text())
    box.start()
    yield box
    box.stop()


def make_host(users, box, name="offsite", *, pin=True, enabled=True) -> Host:
    host = Host(
        name=name,
        hostname="127.0.0.1",
        port=box.port,
        ssh_user=box.user,
        roles="backup",
        enabled=enabled,
        parameter_defaults={"backup_dir": str(box.backups)},
    )
    services.host_save(actor=users["admin"], host=host, components=[])
    if pin:
        key = box.host_key()
        host = services.host_pin_key(
            actor=users["admin"], host=host, confirmed_fingerprint=remote.fingerprint_of(key.key_type, key.key_base64)
        )
    return host


@pytest.fixture
def empty_offsite(offsite_sandbox):
    for path in offsite_sandbox.backups.iterdir():
        path.unlink()
    return offsite_sandbox


@pytest.fixture
def offsite(users, empty_offsite, sandbox_host):
    return make_host(users, empty_offsite)


NIGHTLY = [{"task": "backup_database"}, {"task": "copy_backup_offhost", "params": {"destination": "offsite"}}]


def test_the_dump_is_copied_through_the_portal_and_verified_on_the_destination(
    users, sandbox_host, offsite, offsite_sandbox
):
    execution = launch_and_run(users, sandbox_host, NIGHTLY, slug="nightly")
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    source = Path(execution.result["path"])
    copy = offsite_sandbox.backups / source.name
    assert copy.read_bytes() == source.read_bytes()
    assert [p.name for p in offsite_sandbox.backups.iterdir()] == [source.name]  # no partial file left
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert execution.result["offhost_copy"]["sha256"] == digest and execution.result["offhost_copy"]["verified"]
    # The inventory: the backup and its verified copy, audited.
    backup = Backup.objects.get(path=str(source))
    row = BackupCopy.objects.get(backup=backup)
    assert (row.destination, row.path, row.sha256, row.execution_id) == (offsite, str(copy), digest, execution.pk)
    event = AuditEvent.objects.get(action="runbooks.backup.copy_verified")
    assert event.target_id == str(backup.pk) and event.data["destination"] == "offsite"
    # Recorded: a connection to the destination with *its* pinned key, the transfer, sha256sum run there.
    steps = list(execution.steps.order_by("order"))
    connects = [s for s in steps if s.kind == StepKind.CONNECT]
    assert len(connects) == 2 and offsite.host_key_fingerprint in connects[1].label
    assert f"127.0.0.1:{offsite.port}" in connects[1].label
    transfer = next(s for s in steps if s.kind == StepKind.TRANSFER)
    assert transfer.status == StepStatus.SUCCEEDED and transfer.detail["bytes"] == source.stat().st_size
    digest_step = next(s for s in steps if s.label == "SHA-256 of the copy on offsite")
    assert "sha256sum -- " in digest_step.command and digest_step.stdout.startswith(digest)
    assert AuditEvent.objects.filter(action="runbooks.transfer.finished", target_id=str(execution.pk)).exists()


def test_a_corrupted_transfer_is_caught_on_the_destination_and_the_bad_copy_deleted(
    users, sandbox_host, offsite, offsite_sandbox, monkeypatch
):
    """How the bytes are corrupted: `library.COPY_CHUNK_FILTER` is the copy stream's test hook — the function every
    chunk passes through between the SFTP read on the source and the SFTP write on the destination. Here it flips one
    bit of the first chunk, which is what a faulty link, a buggy proxy or a bad disk on the destination does. The
    portal's own hash of the bytes it *read* still matches the inventory (the source is fine); only the destination's
    own `sha256sum`, which reads what landed on its disk, can notice — and that is the check under test."""

    def flip_one_bit(chunk: bytes) -> bytes:
        return bytes([chunk[0] ^ 0x01]) + chunk[1:]

    monkeypatch.setattr(library, "COPY_CHUNK_FILTER", flip_one_bit)
    execution = launch_and_run(users, sandbox_host, NIGHTLY, slug="nightly")
    assert execution.status == ExecutionStatus.FAILED
    expected = execution.result["sha256"]
    found = execution.result["offhost_copy"]["sha256"]
    assert found != expected
    assert f"The copy on offsite has SHA-256 {found}, but the backup's is {expected}" in execution.error
    assert list(offsite_sandbox.backups.iterdir()) == []  # the bad copy is deleted, nothing takes the final name
    assert execution.result["offhost_copy"]["verified"] is False
    assert execution.result["offhost_copy"]["bad_copy_removed"].endswith(f".partial-{execution.pk}")
    verify = execution.steps.get(kind=StepKind.VERIFY, label="Verify the copy on offsite")
    assert verify.status == StepStatus.FAILED and verify.detail == {
        "expected": expected,
        "found": found,
        "path": execution.result["offhost_copy"]["bad_copy_removed"],
    }
    cleanup = execution.steps.get(label__startswith="Delete the unverified copy")
    assert cleanup.status == StepStatus.SUCCEEDED and cleanup.label.endswith("(after the step failed)")
    # The dump itself verified: it is in the inventory, without a copy.
    backup = Backup.objects.get(path=execution.result["path"])
    assert not backup.copies.exists() and not AuditEvent.objects.filter(action="runbooks.backup.copy_verified").exists()
    failed = AuditEvent.objects.get(action="runbooks.check.failed", target_id=str(execution.pk))
    assert failed.data["label"] == "Verify the copy on offsite"


def test_the_newest_verified_backup_of_the_inventory_is_copied_when_the_run_makes_none(
    users, sandbox_host, offsite, offsite_sandbox
):
    first = launch_and_run(users, sandbox_host, [{"task": "backup_database"}], slug="backup")
    assert first.status == ExecutionStatus.SUCCEEDED, first.error
    copy = launch_and_run(users, sandbox_host, NIGHTLY[1:], slug="copy")
    assert copy.status == ExecutionStatus.SUCCEEDED, copy.error
    backup = Backup.objects.get(execution=first)
    assert copy.steps.filter(kind=StepKind.DECISION, label__contains="newest verified backup in the inventory").exists()
    assert BackupCopy.objects.get(backup=backup).execution_id == copy.pk
    # Copying again finds the same file there, checks it, and changes nothing.
    again = launch_and_run(users, sandbox_host, NIGHTLY[1:], slug="copy")
    assert again.status == ExecutionStatus.SUCCEEDED, again.error
    assert again.result["offhost_copy"]["already_there"] is True
    assert BackupCopy.objects.filter(backup=backup).count() == 1


@pytest.mark.parametrize(
    ("pin", "enabled", "message"),
    [
        (False, True, "The off-host copy's destination “offsite” has no pinned host key"),
        (True, False, "The off-host copy's destination “offsite” is disabled"),
    ],
)
def test_an_unpinned_or_disabled_destination_is_refused_before_connecting(
    users, sandbox_host, empty_offsite, pin, enabled, message
):
    offsite_sandbox = empty_offsite
    make_host(users, offsite_sandbox, pin=pin, enabled=enabled)
    execution = launch_and_run(users, sandbox_host, NIGHTLY, slug="nightly")
    assert execution.status == ExecutionStatus.FAILED
    assert message in execution.error
    assert execution.steps.filter(kind=StepKind.CONNECT).count() == 1  # only the run's own host
    assert not BackupCopy.objects.exists() and list(offsite_sandbox.backups.iterdir()) == []


def test_an_unknown_destination_is_refused_by_name(users, sandbox_host):
    execution = launch_and_run(
        users,
        sandbox_host,
        [{"task": "backup_database"}, {"task": "copy_backup_offhost", "params": {"destination": "nowhere"}}],
        slug="nightly",
    )
    assert execution.status == ExecutionStatus.FAILED
    assert "destination “nowhere” is not a host in the admin's Hosts list" in execution.error
