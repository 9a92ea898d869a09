"""A local sandbox host: OpenSSH's sshd on 127.0.0.1 with shims for docker, cryptsetup, mount, mountpoint, sudo.

Used by the test suite (a session fixture), by the benchmark, and by a newcomer (`make sandbox-host`)
to try every runbook from `make run`. sshd runs in the foreground with its own host key, a generated
client key in authorized_keys, `StrictModes no`, `UsePAM no`, and

    SetEnv PATH=<shims>:/usr/bin:/bin HOME=<sandbox>/home ERSEN_SANDBOX=<sandbox>

so the shims shadow the real programs and the login user's ~/.bashrc is not read (HOME is a plain
folder). The shims (`runbooks/sandbox/shims/`) record their arguments in `<sandbox>/shim.log`;
`docker exec … pg_dump` runs the real pg_dump against the sandbox's PostgreSQL database (or prints a
well-formed dump without one). A small HTTPS server with a certificate from the sandbox's own CA
stands in for the site, for the TLS check and smoke tests.

It logs in as the user running it (root in CI containers): sshd started by a normal user can only
authenticate that same user, which is all the sandbox needs.
"""

from __future__ import annotations

import datetime as dt
import getpass
import http.server
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import string
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SHIMS = Path(__file__).resolve().parent / "shims"
# Where `make sandbox-host` keeps its keys and state (git-ignored), and the addresses the demo host uses.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "var" / "sandbox"
DEFAULT_SSH_PORT = 2222
DEFAULT_TLS_PORT = 8443
CONFIG_TEMPLATE = Path(__file__).resolve().parent / "sshd_config.template"
DEFAULT_SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 10, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pg_env_from_url(url: str) -> dict:
    """PG* variables for the shims from a postgres:// URL (the database the sandbox's "container" holds)."""
    parts = urlsplit(url)
    env = {
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": parts.username or "postgres",
    }
    if parts.password:
        env["PGPASSWORD"] = parts.password
    database = parts.path.lstrip("/")
    if database:
        env["PGDATABASE"] = database
    return env


# --- TLS: a CA and a server certificate, and a tiny HTTPS server ---------------------------------------------


def make_certificates(folder: Path, *, hostname: str = "localhost", days: int = 90, include_ip: bool = False) -> dict:
    """A CA (ca.pem) and a server certificate signed by it for `hostname`. Returns the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Ersen Ops sandbox CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ersen Ops sandbox"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(hostname)]
    if include_ip:
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths["key"].chmod(0o600)
    return paths


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"ersen sandbox site: ok\n"
        status = 404 if self.path.startswith("/missing") else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TLSServer:
    """HTTPS on 127.0.0.1:port with the given certificate, in a thread (for TLS checks and smoke tests)."""

    def __init__(self, cert: Path, key: Path, port: int = 0):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox-tls", daemon=True)

    def start(self) -> TLSServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the SSH host ----------------------------------------------------------------------------------------------


@dataclass
class HostKeyInfo:
    key_type: str
    key_base64: str


class Sandbox:
    def __init__(
        self,
        root: Path | str,
        *,
        port: int = 0,
        pg_url: str = "",
        sshd: str = DEFAULT_SSHD,
        user: str | None = None,
    ):
        self.root = Path(root).resolve()
        self.port = port or free_port()
        self.pg_url = pg_url
        self.sshd = sshd
        self.user = user or getpass.getuser()
        self.proc: subprocess.Popen | None = None

    # Paths
    @property
    def client_key(self) -> Path:
        return self.root / "client_ed25519"

    @property
    def host_key_file(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def log_file(self) -> Path:
        return self.root / "sshd.log"

    @property
    def shim_log(self) -> Path:
        return self.root / "shim.log"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def compose_dir(self) -> Path:
        return self.root / "srv" / "containers" / "ersen"

    def prepare(self) -> Sandbox:
        for sub in ("home", "state", "behaviour", "pids", "backups", "offsite", "srv/containers/ersen"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        for name in ("docker-compose.prod.yml", "docker-compose.encrypted.yml"):
            path = self.compose_dir / name
            if not path.exists():
                path.write_text("# sandbox stand-in: the docker shim only checks that it exists\nservices: {}\n")
        keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
        for key in (self.host_key_file, self.client_key):
            if not key.exists():
                subprocess.run(
                    [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"ersen-sandbox-{key.name}", "-f", str(key)],
                    check=True,
                )
        (self.root / "authorized_keys").write_text(Path(str(self.client_key) + ".pub").read_text())
        config_lines = ["# written by the sandbox; sourced by the shims"]
        if self.pg_url:
            config_lines += [f"export {k}='{v}'" for k, v in pg_env_from_url(self.pg_url).items()]
        (self.root / "config.sh").write_text("\n".join(config_lines) + "\n")
        template = string.Template(CONFIG_TEMPLATE.read_text())
        (self.root / "sshd_config").write_text(
            template.substitute(
                port=self.port,
                root=self.root,
                host_key=self.host_key_file,
                shims=SHIMS,
                user=self.user,
            )
        )
        return self

    def start(self, timeout: float = 10) -> Sandbox:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.log_file.write_text("")
        self.proc = subprocess.Popen(
            [self.sshd, "-D", "-f", str(self.root / "sshd_config"), "-E", str(self.log_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if not wait_for_port(self.port, timeout=timeout, proc=self.proc):
            self.stop()
            raise RuntimeError(f"sshd did not start on 127.0.0.1:{self.port}: {self.log_file.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self):
        return self.prepare().start()

    def __exit__(self, *exc):
        self.stop()

    # Facts for the Host row and for tests
    def host_key(self) -> HostKeyInfo:
        key_type, key_base64 = Path(str(self.host_key_file) + ".pub").read_text().split()[:2]
        return HostKeyInfo(key_type, key_base64)

    def parameter_defaults(self) -> dict:
        return {"backup_dir": str(self.backups), "compose_dir": str(self.compose_dir)}

    def site_certificates(self) -> dict:
        """The sandbox site's CA and certificate for "localhost" (made once, kept in <sandbox>/tls)."""
        folder = self.root / "tls"
        paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
        if not all(p.exists() for p in paths.values()):
            paths = make_certificates(folder, hostname="localhost", days=90)
        return paths

    def shim_calls(self) -> list[list[str]]:
        if not self.shim_log.exists():
            return []
        return [line.split("\t") for line in self.shim_log.read_text().splitlines() if line]

    def set_behaviour(self, shim: str, script: str) -> None:
        (self.root / "behaviour" / shim).write_text(script + "\n")

    def reset(self) -> None:
        """Forget state, behaviours, recorded calls and backups (between tests)."""
        for sub in ("state", "behaviour", "pids", "backups"):
            folder = self.root / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        self.shim_log.write_text("")


def demo_parameter_defaults(
    root: Path = DEFAULT_DIR, *, tls_port: int = DEFAULT_TLS_PORT, web: str = "http://127.0.0.1:8000"
) -> dict:
    """Host parameters that point the four demo runbooks at `make sandbox-host` and `make run`."""
    site = f"https://localhost:{tls_port}"
    return {
        "backup_dir": str(root / "backups"),
        "compose_dir": str(root / "srv" / "containers" / "ersen"),
        "site_url": site,
        "cafile": str(root / "tls" / "ca.pem"),
        "tls_wait_seconds": "5",
        "checks": f"{web}/healthz 200\n{web}/admin/login/ 200\n{site}/login 200\n{site}/widgets 200\n{site}/payments 200",
    }
