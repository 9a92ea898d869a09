"""runbooks.remote against a real sshd: host-key pinning, login failures, streaming a command."""

from __future__ import annotations

import subprocess

import pytest

from runbooks import remote
from runbooks.sandbox import Sandbox, free_port


def _target(sandbox, key: remote.HostKey | None, port: int | None = None) -> remote.Target:
    return remote.Target(
        name="sandbox", hostname="127.0.0.1", port=port or sandbox.port, user=sandbox.user, host_key=key
    )


def _pinned(sandbox) -> remote.HostKey:
    info = sandbox.host_key()
    return remote.HostKey(info.key_type, info.key_base64, remote.fingerprint_of(info.key_type, info.key_base64))


def test_fetched_host_key_matches_ssh_keygen(sandbox):
    fetched = remote.fetch_host_key("127.0.0.1", sandbox.port, timeout=5)
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(sandbox.host_key_file) + ".pub"], capture_output=True, text=True
    ).stdout
    assert fetched.fingerprint == out.split()[1] and fetched.fingerprint.startswith("SHA256:")
    assert fetched.key_type == "ssh-ed25519"


def test_a_command_runs_and_streams_its_output(sandbox):
    session = remote.open_session(
        _target(sandbox, _pinned(sandbox)), key_file=str(sandbox.client_key), connect_timeout=5
    )
    try:
        proc = session.start("echo out; echo err >&2; exit 3")
        out, err = b"", b""
        while not proc.finished:
            o, e = proc.read(0.2)
            out, err = out + o, err + e
        assert (out, err, proc.exit_code) == (b"out\n", b"err\n", 3)
    finally:
        session.close()


def test_a_different_host_key_is_refused_naming_both_fingerprints(sandbox, tmp_path):
    other = Sandbox(tmp_path / "other").prepare()  # a second host key, never started
    wrong = _pinned(other)
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_session(_target(sandbox, wrong), key_file=str(sandbox.client_key), connect_timeout=5)
    message = str(exc.value)
    assert exc.value.kind == "host_key"
    assert _pinned(sandbox).fingerprint in message and wrong.fingerprint in message
    assert "Refusing to connect" in message


def test_no_pinned_key_refuses_before_connecting(sandbox):
    with pytest.raises(remote.RemoteError, match="no pinned host key"):
        remote.open_session(_target(sandbox, None), key_file=str(sandbox.client_key))


def test_a_wrong_client_key_is_refused(sandbox, tmp_path):
    stranger = Sandbox(tmp_path / "stranger").prepare().client_key
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_session(_target(sandbox, _pinned(sandbox)), key_file=str(stranger), connect_timeout=5)
    assert exc.value.kind == "auth" and "Login to sandbox" in str(exc.value) and str(stranger) in str(exc.value)


def test_a_closed_port_is_refused_at_once(sandbox):
    with pytest.raises(remote.RemoteError) as exc:
        remote.open_session(_target(sandbox, _pinned(sandbox), port=free_port()), key_file=str(sandbox.client_key))
    assert exc.value.kind == "connect" and "connection refused" in str(exc.value)


def test_a_missing_key_file_is_named(sandbox):
    with pytest.raises(remote.RemoteError, match="OPS_SSH_KEY_FILE points at /nonexistent/key"):
        remote.open_session(_target(sandbox, _pinned(sandbox)), key_file="/nonexistent/key")


def test_a_background_process_holding_stdout_does_not_hold_the_command(sandbox):
    import time

    session = remote.open_session(
        _target(sandbox, _pinned(sandbox)), key_file=str(sandbox.client_key), connect_timeout=5
    )
    try:
        started = time.monotonic()
        proc = session.start("sleep 6 & echo started")
        out = b""
        while not proc.finished:
            out += proc.read(0.2)[0]
        assert out == b"started\n" and proc.exit_code == 0
        assert time.monotonic() - started < 5, "finished after the exit status and a short EOF grace"
    finally:
        session.close()
