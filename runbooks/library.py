"""The reviewed task library: the seed's "Infrastructure-Specific Procedures" as Python functions.

Each task declares its parameters with an allow-list pattern and a default (the seed's value).
Values are validated before anything connects, and every value is `shlex.quote`d again when a
command is built, so a value such as ``ersen; rm -rf /`` can never reach a shell. There is no
free-form shell anywhere: an operator chooses tasks and values, never command text.

A task function receives a context (see `runbooks.runner.TaskContext`) and its validated
parameters. It runs remote commands with ``ctx.run(...)`` (each wrapped in ``timeout N`` on the
host by the runner), records decisions with ``ctx.decide(...)``, checks from the portal with
``ctx.check(...)``, and puts its outcome into ``ctx.result``. It raises `StepFailed` with an
operator-readable message when something is wrong.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from ersen_ops.core.errors import DomainError

q = shlex.quote

# ---------------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------------


class StepFailed(Exception):
    """A task step failed; the message is shown to the operator as the execution's error."""


class ParameterRefused(DomainError):
    """A parameter value is not allowed (refused before anything connects)."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "parameter")
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class Param:
    name: str
    pattern: str  # full match
    rule: str  # what the pattern allows, in words
    default: str | Callable[[], str] | None = None  # None: required
    help: str = ""
    multiline: bool = False  # each non-empty line must match
    min_value: int | None = None
    max_value: int | None = None

    def default_value(self) -> str | None:
        return self.default() if callable(self.default) else self.default

    def check(self, value: Any, task_label: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ParameterRefused(
                f"Parameter “{self.name}” of {task_label}: expected text, got {type(value).__name__}."
            )
        text = str(value)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()] if self.multiline else [text]
        if self.multiline and not lines and self.default is None:
            raise ParameterRefused(f"Parameter “{self.name}” of {task_label}: at least one line is needed.")
        for line in lines:
            if "\x00" in line or not re.fullmatch(self.pattern, line):
                raise ParameterRefused(
                    f"Parameter “{self.name}” of {task_label}: {line!r} is refused — allowed: {self.rule}."
                )
            if self.min_value is not None or self.max_value is not None:
                number = int(line)
                if self.min_value is not None and number < self.min_value:
                    raise ParameterRefused(
                        f"Parameter “{self.name}” of {task_label}: {number} is below the minimum of {self.min_value}."
                    )
                if self.max_value is not None and number > self.max_value:
                    raise ParameterRefused(
                        f"Parameter “{self.name}” of {task_label}: {number} is above the maximum of {self.max_value}."
                    )
        return "\n".join(lines) if self.multiline else text


# Allow-lists, named once and reused.
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._-]+"
ABSOLUTE_PATH = (rf"^(?:/{_SEGMENT})+$", "an absolute path of letters, digits, “._-” (no “..”, no spaces)")
OPTIONAL_PATH = (rf"^$|^(?:/{_SEGMENT})+$", "empty, or an absolute path of letters, digits, “._-”")
FILE_NAME = (r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", "a file name of letters, digits, “._-”")
CONTAINER = (r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", "a container name of letters, digits, “_.-”")
PG_NAME = (r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", "a PostgreSQL name (letters, digits, _; starting with a letter or _)")
SERVICE = (r"^[a-z0-9][a-z0-9_.-]{0,62}$", "a compose service name (lower-case letters, digits, “_.-”)")
DEVICE_NAME = (r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", "a device-mapper name of letters, digits, “_.-”")
YES_NO = (r"^(yes|no)$", "yes or no")
NUMBER = (r"^[0-9]{1,6}$", "a whole number")
_HOST_PART = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
HTTPS_SITE = (
    rf"^https://{_HOST_PART}(?::[0-9]{{1,5}})?/?$",
    "an https:// site address without a path, e.g. https://ersen.xyz",
)
_URL = rf"https?://{_HOST_PART}(?::[0-9]{{1,5}})?(?:/[A-Za-z0-9._~+,=:@%/-]*)?(?:\?[A-Za-z0-9._~+,=:@%/?&-]*)?"
HTTP_CHECK = (rf"^{_URL} [1-5][0-9]{{2}}$", "one “URL expected-status” per line, e.g. “https://ersen.xyz/login 200”")


def _p(name, allow, default=None, help="", **kwargs) -> Param:  # noqa: A002 - mirrors Param.help
    pattern, rule = allow
    return Param(name=name, pattern=pattern, rule=rule, default=default, help=help, **kwargs)


def _backup_dir_default() -> str:
    return settings.OPS_BACKUP_DIR


# ---------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    name: str
    label: str
    description: str
    params: tuple[Param, ...]
    run: Callable[[Any, dict], None]
    preview: Callable[[dict], list[str]]
    timeout: int | None = None  # default per-command timeout on the host; None: OPS_RUNBOOK_STEP_TIMEOUT
    disruptive: bool = True  # changes production (needs a window post-launch); False for read-only tasks
    uses_ssh: bool = True
    param_index: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "param_index", {p.name: p for p in self.params})

    def default_timeout(self) -> int:
        return self.timeout or settings.OPS_RUNBOOK_STEP_TIMEOUT


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ParameterRefused(f"Unknown task “{name}”; the task library has: {known}.") from None


def task_choices() -> list[tuple[str, str]]:
    return [(t.name, f"{t.label} ({t.name})") for t in REGISTRY.values()]


def validate_params(task_name: str, *layers: dict | None) -> dict[str, str]:
    """Merge parameter layers (later wins) over the task's defaults and validate every value.

    Raises ParameterRefused naming the parameter, the value and the rule.
    """
    task = get_task(task_name)
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key in task.param_index:
                merged[key] = value
    cleaned = {}
    for param in task.params:
        value = merged.get(param.name, param.default_value())
        if value is None:
            raise ParameterRefused(f"Parameter “{param.name}” of {task.label} is required ({param.rule}).")
        cleaned[param.name] = param.check(value, task.label)
    return cleaned


def check_unknown_params(task_name: str, params: dict) -> None:
    """Refuse keys the task does not declare (a typo would otherwise silently use the default)."""
    task = get_task(task_name)
    unknown = sorted(set(params) - set(task.param_index))
    if unknown:
        raise ParameterRefused(
            f"{task.label} has no parameter {', '.join(repr(u) for u in unknown)}; "
            f"its parameters are: {', '.join(task.param_index)}."
        )


def plan_commands(task_name: str, params: dict) -> list[str]:
    """The commands a task will run with these parameters (conditional ones annotated), for the Run page."""
    return get_task(task_name).preview(params)


# --- backup_database -------------------------------------------------------------------------------------

PG_DUMP_HEADER = "-- PostgreSQL database dump"
PG_DUMP_COMPLETE = "-- PostgreSQL database dump complete"


def _backup_paths(p: dict, when: datetime) -> tuple[str, str]:
    folder = p["backup_dir"].rstrip("/") or "/"
    daily = f"{folder}/backup_{when:%Y%m%d}.sql"
    timed = f"{folder}/backup_{when:%Y%m%d_%H%M%S}.sql"
    return daily, timed


def _dump_command(p: dict, path: str, partial: str) -> str:
    # noclobber + a hard link: the final name appears only for a complete dump and never replaces a file.
    return (
        f"set -C; docker exec {q(p['container'])} pg_dump -U {q(p['db_user'])} {q(p['database'])} > {q(partial)}"
        f" && ln {q(partial)} {q(path)} && rm -f {q(partial)}"
    )


def backup_database(ctx, p: dict) -> None:
    folder = p["backup_dir"]
    ctx.run(
        f"test -d {q(folder)} && test -w {q(folder)}",
        label=f"Backup folder {folder} exists and is writable",
        quick=True,
        failure=f"The backup folder {folder} does not exist or is not writable on the host.",
    )
    daily, timed = _backup_paths(p, ctx.now())
    exists = ctx.run(f"test -e {q(daily)}", label=f"Is {daily} free?", quick=True, ok_exit_codes=(0, 1))
    if exists.exit_code == 0:
        path = timed
        ctx.decide(f"{daily} already exists: never overwrite; writing {path} instead", action="rename")
    else:
        path = daily
        ctx.decide(f"{daily} is free: writing the dump there", action="write")
    partial = f"{path}.partial-{ctx.execution_id}"
    try:
        ctx.run(
            _dump_command(p, path, partial),
            label=f"Dump database {p['database']} from container {p['container']} into {path}",
            failure="pg_dump failed; its incomplete output is removed, never kept as a backup",
        )
    except Exception as exc:
        # Failed, timed out or cancelled: an incomplete dump must not stay in the backup folder.
        removed = ctx.cleanup(
            f"rm -f {q(partial)} && test ! -e {q(partial)}", label=f"Remove the incomplete dump {partial}", after=exc
        )
        ctx.result["partial_removed" if removed else "partial_left"] = partial
        raise
    ctx.result["path"] = path
    # Verification: exists and non-empty, pg_dump's header and completion line, size and SHA-256.
    size_out = ctx.run(f"stat -c %s {q(path)}", label=f"Size of {path}", quick=True).stdout.strip()
    if not size_out.isdigit():
        raise StepFailed(f"Could not read the size of {path}: {size_out[:200]!r}.")
    size = int(size_out)
    if size == 0:
        raise StepFailed(f"The backup {path} is empty (0 bytes): pg_dump wrote nothing.")
    head = ctx.run(f"head -n 5 {q(path)}", label=f"First lines of {path}", quick=True).stdout
    tail = ctx.run(f"tail -n 10 {q(path)}", label=f"Last lines of {path}", quick=True).stdout
    digest_out = ctx.run(f"sha256sum {q(path)}", label=f"SHA-256 of {path}", quick=True).stdout.split()
    sha256 = digest_out[0] if digest_out and re.fullmatch(r"[0-9a-f]{64}", digest_out[0]) else ""
    problems = []
    if PG_DUMP_HEADER not in head:
        problems.append(f"it does not begin with pg_dump's header “{PG_DUMP_HEADER}”")
    if PG_DUMP_COMPLETE not in tail:
        problems.append(f"it does not end with pg_dump's completion line “{PG_DUMP_COMPLETE}” (truncated dump?)")
    if not sha256:
        problems.append("its SHA-256 could not be computed")
    detail = {"path": path, "size": size, "sha256": sha256}
    if problems:
        ctx.verify(
            f"Verify {path}",
            ok=False,
            message=f"The backup {path} failed verification: " + "; ".join(problems) + ".",
            detail=detail,
        )
    ctx.verify(f"Verify {path}: {size} bytes, pg_dump header and completion line present", ok=True, detail=detail)
    ctx.result.update({"path": path, "size": size, "sha256": sha256, "verified": True})
    if p["verify_restore"] == "yes":
        _restore_check(ctx, p, path)


def _restore_check(ctx, p: dict, path: str) -> None:
    c, u, scratch = q(p["container"]), q(p["db_user"]), p["scratch_database"]
    if scratch == p["database"]:
        raise StepFailed("The scratch database must differ from the database that was backed up.")
    drop = f"docker exec {c} dropdb -U {u} --if-exists {q(scratch)}"
    ctx.run(drop, label=f"Drop scratch database {scratch} (if left over)")
    try:
        ctx.run(f"docker exec {c} createdb -U {u} {q(scratch)}", label=f"Create scratch database {scratch}")
        ctx.run(
            f"docker exec -i {c} psql -U {u} -v ON_ERROR_STOP=1 -q -d {q(scratch)} < {q(path)}",
            label=f"Restore {path} into {scratch}",
            failure=f"Restoring {path} into the scratch database {scratch} failed: the dump does not restore cleanly.",
        )
        sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        out = ctx.run(
            f"docker exec {c} psql -U {u} -d {q(scratch)} -tAc {q(sql)}", label=f"Count tables in {scratch}"
        ).stdout.strip()
    finally:
        ctx.run(drop, label=f"Drop scratch database {scratch}", ok_exit_codes=None)
    tables = int(out) if out.isdigit() else -1
    ok = tables > 0
    ctx.verify(
        f"Restore check: {tables} tables restored into {scratch}" if ok else "Restore check",
        ok=ok,
        message=f"The dump restored into {scratch} but it has no tables (count: {out[:50]!r}).",
        detail={"database": scratch, "tables": tables},
    )
    ctx.result["restore_check"] = {"database": scratch, "tables": tables}


def _backup_preview(p: dict) -> list[str]:
    daily, _ = _backup_paths(p, datetime(2000, 1, 1))
    folder = p["backup_dir"].rstrip("/")
    path = f"{folder}/backup_YYYYMMDD.sql"
    cmds = [
        f"test -d {q(folder)} && test -w {q(folder)}",
        f"test -e {q(path)}   # if it exists: backup_YYYYMMDD_HHMMSS.sql instead (never overwrite)",
        _dump_command(p, path, path + ".partial-ID"),
        f"stat -c %s {q(path)}",
        f"head -n 5 {q(path)}   # must contain “{PG_DUMP_HEADER}”",
        f"tail -n 10 {q(path)}   # must contain “{PG_DUMP_COMPLETE}”",
        f"sha256sum {q(path)}",
    ]
    if p.get("verify_restore") == "yes":
        c, u, s = q(p["container"]), q(p["db_user"]), q(p["scratch_database"])
        cmds += [
            f"docker exec {c} dropdb -U {u} --if-exists {s}",
            f"docker exec {c} createdb -U {u} {s}",
            f"docker exec -i {c} psql -U {u} -v ON_ERROR_STOP=1 -q -d {s} < {q(path)}",
            f"docker exec {c} psql -U {u} -d {s} -tAc 'SELECT count(*) FROM information_schema.tables …'",
            f"docker exec {c} dropdb -U {u} --if-exists {s}",
        ]
    return cmds


register(
    Task(
        name="backup_database",
        label="Back up the database",
        description="docker exec ersen-db-1 pg_dump -U ersen ersen > backup_YYYYMMDD.sql in the backup folder "
        "(never overwriting: the time is added if the day's file exists), then verify it (non-empty, pg_dump's "
        "header and completion line) and record path, size and SHA-256. Optionally restore it into a scratch "
        "database and count the tables.",
        params=(
            _p("container", CONTAINER, "ersen-db-1", "Docker container running PostgreSQL."),
            _p("db_user", PG_NAME, "ersen", "PostgreSQL user for pg_dump (-U)."),
            _p("database", PG_NAME, "ersen", "Database to dump."),
            _p("backup_dir", ABSOLUTE_PATH, _backup_dir_default, "Folder on the host (default OPS_BACKUP_DIR)."),
            _p("verify_restore", YES_NO, "no", "Also restore into a scratch database and count its tables."),
            _p("scratch_database", PG_NAME, "ersen_restore_check", "Scratch database for the restore check."),
        ),
        run=backup_database,
        preview=_backup_preview,
        timeout=1200,
        disruptive=False,
    )
)

# --- unlock_encrypted_volume -----------------------------------------------------------------------------


def _compose(p: dict, files: list[str], action: str) -> str:
    flags = " ".join(f"-f {q(f)}" for f in files)
    return f"cd {q(p['compose_dir'])} && docker compose {flags} {action}"


def unlock_encrypted_volume(ctx, p: dict) -> None:
    name, mapper = p["mapper_name"], f"/dev/mapper/{p['mapper_name']}"
    status = ctx.run(f"sudo cryptsetup status {q(name)}", label=f"Is {mapper} open?", quick=True, ok_exit_codes=None)
    if status.exit_code == 0:
        ctx.decide(f"{mapper} is already open: skipping luksOpen", action="skip")
    else:
        ctx.decide(f"{mapper} is not open (cryptsetup status exit {status.exit_code}): opening it", action="run")
        ctx.run(
            f"sudo cryptsetup luksOpen --key-file={q(p['key_file'])} {q(p['image'])} {q(name)}",
            label=f"Open {p['image']} as {mapper}",
            failure=f"cryptsetup could not open {p['image']} with the key file {p['key_file']} (on the host).",
        )
    mountpoint = p["mountpoint"]
    mounted = ctx.run(
        f"mountpoint -q {q(mountpoint)}", label=f"Is {mountpoint} mounted?", quick=True, ok_exit_codes=None
    )
    if mounted.exit_code == 0:
        ctx.decide(f"{mountpoint} is already mounted: skipping mount", action="skip")
    else:
        ctx.decide(f"{mountpoint} is not mounted: mounting {mapper}", action="run")
        ctx.run(f"sudo mount {q(mapper)} {q(mountpoint)}", label=f"Mount {mapper} on {mountpoint}")
        ctx.run(
            f"mountpoint -q {q(mountpoint)}",
            label=f"Verify {mountpoint} is mounted",
            quick=True,
            failure=f"mount reported success but {mountpoint} is not a mount point.",
        )
    ctx.run(
        _compose(p, [p["compose_file"], p["compose_override"]], "up -d"),
        label=f"Start the containers in {p['compose_dir']}",
    )
    ctx.result["volume"] = {"mapper": mapper, "mountpoint": mountpoint, "containers": "up"}


def _unlock_preview(p: dict) -> list[str]:
    mapper = f"/dev/mapper/{p['mapper_name']}"
    return [
        f"sudo cryptsetup status {q(p['mapper_name'])}   # open already? then skip the next command",
        f"sudo cryptsetup luksOpen --key-file={q(p['key_file'])} {q(p['image'])} {q(p['mapper_name'])}",
        f"mountpoint -q {q(p['mountpoint'])}   # mounted already? then skip the next command",
        f"sudo mount {q(mapper)} {q(p['mountpoint'])}",
        _compose(p, [p["compose_file"], p["compose_override"]], "up -d"),
    ]


register(
    Task(
        name="unlock_encrypted_volume",
        label="Unlock the encrypted volume",
        description="After a reboot: sudo cryptsetup luksOpen --key-file=… /var/lib/ersen_encrypted.img "
        "ersen_encrypted, sudo mount /dev/mapper/ersen_encrypted /mnt/encrypted_postgres, then docker compose "
        "-f docker-compose.prod.yml -f docker-compose.encrypted.yml up -d in /srv/containers/ersen. Idempotent: "
        "an open mapper device or a mounted mount point is left alone, and each decision is recorded. The key "
        "file stays on the host.",
        params=(
            _p("image", ABSOLUTE_PATH, "/var/lib/ersen_encrypted.img", "LUKS image file on the host."),
            _p("mapper_name", DEVICE_NAME, "ersen_encrypted", "Name under /dev/mapper."),
            _p(
                "key_file",
                ABSOLUTE_PATH,
                "/root/.ersen_luks_key",
                "Key file path on the host (never read by the portal).",
            ),
            _p("mountpoint", ABSOLUTE_PATH, "/mnt/encrypted_postgres"),
            _p("compose_dir", ABSOLUTE_PATH, "/srv/containers/ersen"),
            _p("compose_file", FILE_NAME, "docker-compose.prod.yml"),
            _p("compose_override", FILE_NAME, "docker-compose.encrypted.yml"),
        ),
        run=unlock_encrypted_volume,
        preview=_unlock_preview,
        timeout=180,
        disruptive=True,
    )
)

# --- restart_service + TLS check -------------------------------------------------------------------------


def restart_service(ctx, p: dict) -> None:
    ctx.run(_compose(p, [p["compose_file"]], f"restart {q(p['service'])}"), label=f"Restart {p['service']}")
    if not p["site_url"]:
        return
    from runbooks import checks

    wait = int(p["tls_wait_seconds"])
    outcome = ctx.check(
        f"TLS of {p['site_url']}: chain valid, hostname matches, ≥ {p['min_days']} days to expiry",
        lambda: checks.tls_check(
            p["site_url"], min_days=int(p["min_days"]), cafile=p["cafile"] or None, wait_seconds=wait
        ),
    )
    ctx.result["tls"] = outcome


def _restart_preview(p: dict) -> list[str]:
    cmds = [_compose(p, [p["compose_file"]], f"restart {q(p['service'])}")]
    if p["site_url"]:
        cmds.append(
            f"(from the portal) TLS check of {p['site_url']}: chain valid"
            + (f" against {p['cafile']}" if p["cafile"] else "")
            + f", hostname matches, at least {p['min_days']} days to expiry"
        )
    return cmds


register(
    Task(
        name="restart_service",
        label="Restart a service and check TLS",
        description="docker compose -f docker-compose.prod.yml restart traefik in /srv/containers/ersen, then from "
        "the portal check the site's certificate: chain valid, hostname matches, days to expiry above the "
        "threshold. A warning is a failed step with the reason.",
        params=(
            _p("service", SERVICE, "traefik", "Compose service to restart."),
            _p("compose_dir", ABSOLUTE_PATH, "/srv/containers/ersen"),
            _p("compose_file", FILE_NAME, "docker-compose.prod.yml"),
            _p("site_url", (r"^$|" + HTTPS_SITE[0], "empty (no check) or " + HTTPS_SITE[1]), "https://ersen.xyz"),
            _p("min_days", NUMBER, "14", "Fail when the certificate expires sooner.", min_value=0, max_value=365),
            _p("cafile", OPTIONAL_PATH, "", "CA bundle on the portal to trust (empty: the system's)."),
            _p(
                "tls_wait_seconds",
                NUMBER,
                "30",
                "Retry the TLS check this long while the service restarts.",
                max_value=600,
            ),
        ),
        run=restart_service,
        preview=_restart_preview,
        timeout=180,
        disruptive=True,
    )
)

# --- smoke_test ------------------------------------------------------------------------------------------


def parse_http_checks(text: str) -> list[tuple[str, int]]:
    checks = []
    for line in text.splitlines():
        if line.strip():
            url, code = line.split()
            checks.append((url, int(code)))
    return checks


def smoke_test(ctx, p: dict) -> None:
    from runbooks import checks

    results, failures = [], []
    timeout = int(p["timeout_seconds"])
    for url, expected in parse_http_checks(p["checks"]):
        outcome = ctx.check(
            f"GET {url} → expect {expected}",
            lambda url=url, expected=expected: checks.http_check(
                url, expected_status=expected, timeout=timeout, cafile=p["cafile"] or None
            ),
            raise_on_failure=False,
        )
        results.append(outcome)
        if not outcome["ok"]:
            failures.append(outcome["message"])
    ctx.result["smoke_test"] = results
    if failures:
        raise StepFailed(f"{len(failures)} of {len(results)} smoke checks failed: " + "; ".join(failures))


def _smoke_preview(p: dict) -> list[str]:
    return [f"(from the portal) GET {url} → expect HTTP {code}" for url, code in parse_http_checks(p["checks"])]


register(
    Task(
        name="smoke_test",
        label="Smoke test the critical paths",
        description="HTTP checks of the critical paths (login, widgets, payments) from the portal: each URL must "
        "answer with its expected status code; each result is recorded.",
        params=(
            _p(
                "checks",
                HTTP_CHECK,
                "https://ersen.xyz/login 200\nhttps://ersen.xyz/widgets 200\nhttps://ersen.xyz/payments 200",
                "One “URL expected-status” per line. Redirects are not followed.",
                multiline=True,
            ),
            _p("timeout_seconds", NUMBER, "10", "Per request.", min_value=1, max_value=120),
            _p("cafile", OPTIONAL_PATH, "", "CA bundle on the portal to trust (empty: the system's)."),
        ),
        run=smoke_test,
        preview=_smoke_preview,
        timeout=60,
        disruptive=False,
        uses_ssh=False,
    )
)
