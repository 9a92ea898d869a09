"""The only module that talks SSH (Fabric/paramiko). Everything else sees plain data and `RemoteError`.

Why not `Connection.run()`: Fabric (invoke) keeps every byte of a command's output in memory and
only closes the channel on its own timeout. Here a command is started on a channel of the Fabric
connection and read incrementally, so the runner can cap the output, stream it into the database,
and stop the command on the host (see `kill_command`).

Host keys: Fabric installs AutoAddPolicy and loads no known_hosts. `open_session` installs the
pinned key for `[host]:port` and `RejectPolicy` right after constructing the Connection, so an
unknown or different key is refused; the message names both fingerprints.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import time
from dataclasses import dataclass

import paramiko
from fabric import Config, Connection
from paramiko.ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    SSHException,
)

# Output read per `RemoteCommand.read` call at most, so the runner keeps flushing and heartbeating.
_READ_BUDGET = 1024 * 1024


class RemoteError(Exception):
    """SSH failed; `str(exc)` is operator-readable. `kind`: connect, timeout, auth, host_key, key_file, ssh."""

    def __init__(self, message: str, *, kind: str = "ssh"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class HostKey:
    key_type: str
    key_base64: str
    fingerprint: str

    def describe(self) -> str:
        return f"{self.key_type} {self.fingerprint}"


@dataclass(frozen=True)
class Target:
    name: str
    hostname: str
    port: int
    user: str
    host_key: HostKey | None

    def describe(self) -> str:
        return f"{self.name} ({self.user}@{self.hostname}:{self.port})"


def _key_from(key: paramiko.PKey) -> HostKey:
    return HostKey(key_type=key.get_name(), key_base64=key.get_base64(), fingerprint=key.fingerprint)


def fingerprint_of(key_type: str, key_base64: str) -> str:
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(key_base64)).fingerprint


def _connect_error(target_text: str, exc: BaseException, timeout: float) -> RemoteError:
    if isinstance(exc, NoValidConnectionsError):
        return RemoteError(
            f"Could not connect to {target_text}: connection refused (is sshd running and is the port right?)",
            kind="connect",
        )
    if isinstance(exc, socket.timeout | TimeoutError):
        return RemoteError(f"Could not connect to {target_text}: no answer within {timeout:g} s", kind="timeout")
    if isinstance(exc, socket.gaierror):
        return RemoteError(
            f"Could not connect to {target_text}: the host name does not resolve ({exc})", kind="connect"
        )
    if isinstance(exc, OSError):
        return RemoteError(f"Could not connect to {target_text}: {exc.strerror or exc}", kind="connect")
    return RemoteError(f"SSH to {target_text} failed: {exc}", kind="ssh")


def fetch_host_key(hostname: str, port: int, *, timeout: float = 10) -> HostKey:
    """The host key the server presents now (no login). Used by the "Fetch and pin host key" action."""
    where = f"{hostname}:{port}"
    try:
        sock = socket.create_connection((hostname, port), timeout=timeout)
    except OSError as exc:
        raise _connect_error(
            where,
            NoValidConnectionsError({(hostname, port): exc}) if isinstance(exc, ConnectionRefusedError) else exc,
            timeout,
        ) from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return _key_from(transport.get_remote_server_key())
    except (SSHException, EOFError, OSError) as exc:
        raise RemoteError(
            f"{where} did not complete an SSH handshake: {exc or type(exc).__name__}", kind="ssh"
        ) from None
    finally:
        transport.close()


class Session:
    """An open, host-key-verified SSH connection to one target."""

    def __init__(self, target: Target, connection: Connection):
        self.target = target
        self.connection = connection

    def start(self, command: str) -> RemoteCommand:
        try:
            channel = self.connection.create_session()
            channel.exec_command(command)
        except (SSHException, EOFError, OSError) as exc:
            raise RemoteError(f"Could not start a command on {self.target.describe()}: {exc}", kind="ssh") from None
        return RemoteCommand(channel)

    def run_quick(self, command: str, *, timeout: float = 15) -> tuple[int | None, str, str]:
        """Run a short housekeeping command (e.g. the kill of a cancelled command) and wait for it, bounded."""
        proc = self.start(command)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            while not proc.finished and time.monotonic() < deadline:
                o, e = proc.read(0.2)
                out += o[-65536:]
                err += e[-65536:]
            return proc.exit_code, out.decode(errors="replace"), err.decode(errors="replace")
        finally:
            proc.close()

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection must not mask the real error
            pass


@dataclass(frozen=True)
class Copied:
    size: int
    sha256: str  # of the bytes read from the source (what the portal sent on)


def copy_file(
    source: Session,
    source_path: str,
    destination: Session,
    destination_path: str,
    *,
    chunk_size: int = 1024 * 1024,
    chunk_filter=None,
    keep_going=None,
) -> Copied:
    """Stream a file from one host to another through the portal over SFTP (both sessions are pinned-key SSH
    connections). The destination file must not exist (created exclusively, never overwritten). The SHA-256 of the
    bytes read is returned; the caller still verifies the copy *on the destination*, which is what counts.

    `chunk_filter(bytes) -> bytes`: a test hook standing in for corruption between the source and the destination's
    disk (tests/runbooks/test_backups_copy.py); None in production. `keep_going()`: polled per chunk; False stops.
    """
    import hashlib

    digest, size = hashlib.sha256(), 0
    where = f"{source.target.name}:{source_path} → {destination.target.name}:{destination_path}"
    try:
        with (
            source.connection.sftp().open(source_path, "rb") as reader,
            destination.connection.sftp().open(destination_path, "wbx") as writer,
        ):
            reader.prefetch()
            while True:
                data = reader.read(chunk_size)
                if not data:
                    break
                digest.update(data)
                size += len(data)
                writer.write(chunk_filter(data) if chunk_filter is not None else data)
                if keep_going is not None and not keep_going():
                    raise RemoteError(f"Copy {where} stopped after {size} bytes (cancelled).", kind="cancelled")
    except RemoteError:
        raise
    except OSError as exc:
        raise RemoteError(f"Copy {where} failed after {size} bytes: {exc.strerror or exc}", kind="sftp") from None
    except (SSHException, EOFError) as exc:
        raise RemoteError(f"Copy {where} failed after {size} bytes: {exc}", kind="sftp") from None
    return Copied(size=size, sha256=digest.hexdigest())


class RemoteCommand:
    """A command running on a channel; read its output incrementally."""

    # sshd may send the exit status before the last output: after it, wait this long for EOF (a daemon
    # that keeps the command's stdout open must not hold the run hostage).
    EOF_GRACE = 2.0

    def __init__(self, channel: paramiko.Channel):
        self.channel = channel
        self._exit_seen_at: float | None = None

    def read(self, wait: float) -> tuple[bytes, bytes]:
        """Wait up to `wait` seconds for output; return what arrived (stdout, stderr)."""
        channel = self.channel
        if not (channel.recv_ready() or channel.recv_stderr_ready()):
            if channel.eof_received or channel.closed:
                time.sleep(min(wait, 0.01))  # only the exit status is still to come
            else:
                select.select([channel], [], [], wait)  # wakes on output or EOF (paramiko's pipe)
        out, err = bytearray(), bytearray()
        while len(out) + len(err) < _READ_BUDGET:
            got = False
            if channel.recv_ready():
                out += channel.recv(65536)
                got = True
            if channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                got = True
            if not got:
                break
        return bytes(out), bytes(err)

    @property
    def finished(self) -> bool:
        c = self.channel
        if c.recv_ready() or c.recv_stderr_ready():
            return False
        if c.closed or (c.eof_received and c.exit_status_ready()):
            return True
        if c.exit_status_ready():
            if self._exit_seen_at is None:
                self._exit_seen_at = time.monotonic()
            return time.monotonic() - self._exit_seen_at > self.EOF_GRACE
        return False

    @property
    def exit_code(self) -> int | None:
        if not self.channel.exit_status_ready():
            return None
        code = self.channel.recv_exit_status()
        return None if code == -1 else code  # -1: closed without an exit status (killed by a signal)

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001
            pass


def open_session(target: Target, *, key_file: str = "", connect_timeout: float = 10) -> Session:
    """Connect and log in, verifying the host key against the pin. Raises RemoteError with a readable message."""
    where = target.describe()
    if target.host_key is None:
        raise RemoteError(
            f"{target.name} has no pinned host key: use “Fetch and pin host key” on the host's admin page first.",
            kind="host_key",
        )
    connect_kwargs = {
        "banner_timeout": connect_timeout,
        "auth_timeout": connect_timeout,
        "channel_timeout": connect_timeout,
        "look_for_keys": False,
    }
    if key_file:
        if not os.path.isfile(key_file):
            raise RemoteError(
                f"OPS_SSH_KEY_FILE points at {key_file}, which does not exist on this worker.", kind="key_file"
            )
        connect_kwargs.update(key_filename=[key_file], allow_agent=False)
    else:
        connect_kwargs.update(allow_agent=True)
    # An explicit, empty SSHConfig: ~/.ssh/config and /etc/ssh/ssh_config must not redirect or re-key us.
    config = Config(ssh_config=paramiko.SSHConfig(), lazy=True)
    connection = Connection(
        target.hostname,
        user=target.user,
        port=target.port,
        config=config,
        connect_timeout=connect_timeout,
        connect_kwargs=connect_kwargs,
        forward_agent=False,
    )
    # Fabric's constructor installed AutoAddPolicy: replace it with the pin and a refusal.
    client = connection.client
    name = target.hostname if target.port == 22 else f"[{target.hostname}]:{target.port}"
    pinned = paramiko.PKey.from_type_string(target.host_key.key_type, base64.b64decode(target.host_key.key_base64))
    client.get_host_keys().clear()
    client.get_host_keys().add(name, pinned.get_name(), pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        connection.open()
    except BadHostKeyException as exc:
        connection.close()
        raise RemoteError(
            f"Host key mismatch for {where}: the server presented {exc.key.get_name()} {exc.key.fingerprint}, "
            f"but the pinned key is {target.host_key.describe()}. Refusing to connect. If the host was "
            "re-installed, compare the new key with the one on the host and pin it again.",
            kind="host_key",
        ) from None
    except AuthenticationException:
        connection.close()
        source = f"the key in OPS_SSH_KEY_FILE ({key_file})" if key_file else "the keys in the SSH agent"
        raise RemoteError(
            f"Login to {where} refused: {source} is not authorized for {target.user} on the host.", kind="auth"
        ) from None
    except (NoValidConnectionsError, OSError) as exc:
        connection.close()
        raise _connect_error(where, exc, connect_timeout) from None
    except SSHException as exc:
        connection.close()
        text = str(exc)
        if "Incompatible" in text or "host key" in text.lower():
            raise RemoteError(
                f"Host key mismatch for {where}: the server does not offer the pinned {target.host_key.describe()} "
                f"({text}). Refusing to connect.",
                kind="host_key",
            ) from None
        if "banner" in text.lower() or "timeout" in text.lower():
            raise RemoteError(
                f"{where} accepted the connection but sent no SSH banner within {connect_timeout:g} s ({text}).",
                kind="timeout",
            ) from None
        raise RemoteError(f"SSH to {where} failed: {text}", kind="ssh") from None
    return Session(target, connection)
