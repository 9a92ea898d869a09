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
    idempotent: bool = False  # safe to run twice: a runbook step of it may have retries (runbooks.policy)
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
    started = ctx.now()
    daily, timed = _backup_paths(p, started)
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
    ctx.result.update({"path": path, "size": size, "sha256": sha256, "verified": True, "taken_at": started.isoformat()})
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
        idempotent=True,  # never overwrites: a second run writes a second, timed file
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
        idempotent=True,  # an open mapper or a mounted mount point is left alone
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
        idempotent=True,  # a second restart leaves the service as the first one did
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
        idempotent=True,  # read-only HTTP checks
    )
)

# --- backups as a policy: prune, off-host copy, restore verification -----------------------------------------------
#
# These tasks read the backup inventory (`runbooks.models.Backup`, written by the worker's finish service from each
# run's verified result) and report what they did in `ctx.result`; the finish service turns that into inventory
# changes (`runbooks.services.backups`). None of them changes the service a host runs — they delete old dump files,
# copy one, or restore one into a throwaway database — so they are not `disruptive`: a schedule may run them outside
# maintenance windows.

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
HOST_NAME = (r"^[-a-zA-Z0-9_]{1,60}$", "a host's name (letters, digits, “-_”), as in the admin's Hosts list")

# Test hook of the off-host copy: a function applied to each chunk on its way to the destination (None: none).
# Only the tests set it, to corrupt a transfer and prove that the destination's own sha256sum catches it.
COPY_CHUNK_FILTER: Callable[[bytes], bytes] | None = None


def _this_runs_dump(ctx) -> dict | None:
    """The dump an earlier step of this run made and verified (backup_database), if any."""
    from runbooks import policy

    return policy.verified_dump_of(ctx.result)


def _dump_to_use(ctx) -> dict:
    """The dump made earlier in this run, else the newest verified, unpruned backup of the host in the inventory."""
    from runbooks import selectors

    made = _this_runs_dump(ctx)
    if made is not None:
        ctx.decide(f"Using the dump made earlier in this run: {made['path']}", action="this_run", detail=made)
        return {**made, "backup_id": None}
    backup = selectors.backup_newest_verified(host_id=ctx.host["id"])
    if backup is None:
        raise StepFailed(
            f"{ctx.host.get('name')} has no verified backup in the inventory (and this run made none): "
            "run backup_database first."
        )
    found = {"path": backup.path, "size": backup.size, "sha256": backup.sha256, "backup_id": backup.pk}
    ctx.decide(
        f"Using the newest verified backup in the inventory: {backup.path} (taken {backup.taken_at:%Y-%m-%d %H:%M} UTC)",
        action="inventory",
        detail=found,
    )
    return found


def _sha256_on(ctx, path: str, *, label: str, on=None) -> str:
    out = ctx.run(f"sha256sum -- {q(path)}", label=label, quick=False, on=on).stdout.split()
    if not out or not SHA256_HEX.fullmatch(out[0]):
        raise StepFailed(f"sha256sum of {path} printed no SHA-256: {' '.join(out)[:200]!r}.")
    return out[0]


# --- prune_backups -----------------------------------------------------------------------------------------------


def _list_folder(ctx, folder: str) -> list[tuple[str, int, str]]:
    """(type, size, name) of each entry directly in `folder` on the host (find's %y: f file, d folder, l link …)."""
    out = ctx.run(
        f"find {q(folder)} -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%f\\n'",
        label=f"List the files in {folder}",
        quick=True,
    ).stdout
    entries = []
    for line in out.splitlines():
        kind, _, rest = line.partition("\t")
        size, _, name = rest.partition("\t")
        entries.append((kind, int(size) if size.isdigit() else -1, name))
    return entries


def prune_backups(ctx, p: dict) -> None:
    from runbooks import policy, selectors

    folder = p["backup_dir"].rstrip("/") or "/"
    ctx.run(
        f"test -d {q(folder)} && test -w {q(folder)}",
        label=f"Backup folder {folder} exists and is writable",
        quick=True,
        failure=f"The backup folder {folder} does not exist or is not writable on the host.",
    )
    entries = _list_folder(ctx, folder)
    inventory = {b.path: b for b in selectors.backups_live(host_id=ctx.host["id"])}
    made = _this_runs_dump(ctx)
    left_alone, present, facts_of = [], {}, {}
    for kind, size, name in entries:
        path = f"{folder.rstrip('/')}/{name}"
        if kind != "f" or not policy.is_backup_file_name(name):
            left_alone.append({"name": name, "why": "not a backup_database dump (name or type)"})
            continue
        if made is not None and path == made["path"]:
            present[path] = size
            facts_of["this-run"] = path
            continue
        backup = inventory.get(path)
        if backup is None:
            left_alone.append({"name": name, "why": "not in the backup inventory (unknown origin: never deleted)"})
        elif size != backup.size:
            left_alone.append(
                {"name": name, "why": f"{size} bytes on the host but {backup.size} in the inventory: changed since"}
            )
        else:
            present[path] = size
            facts_of[backup.pk] = path
    missing = sorted(path for path in inventory if path not in present)
    rows = [inventory[path] for key, path in facts_of.items() if key != "this-run"]
    facts = selectors.backup_facts(rows)
    if made is not None and "this-run" in facts_of:
        facts.append(policy.BackupFact(id="this-run", taken_at=ctx.now(), verified=True))
    counts = policy.RetentionCounts(
        daily=int(p["keep_daily"]), weekly=int(p["keep_weekly"]), monthly=int(p["keep_monthly"])
    )
    retention = policy.backup_retention(facts, counts=counts, now=ctx.now())
    protected = {f.id for f in facts if f.evidence_of}
    protected |= {k for k, reasons in retention.keep.items() if any(r[0] == "newest_verified" for r in reasons)}
    kept = [{"path": facts_of[k], "reasons": retention.reasons(k)} for k in retention.keep]
    doomed = [(k, facts_of[k]) for k in retention.delete]
    summary = {
        "counts": {"daily": counts.daily, "weekly": counts.weekly, "monthly": counts.monthly},
        "kept": kept,
        "to_delete": [path for _, path in doomed],
        "left_alone": left_alone,
        "missing": missing,
    }
    # A retried attempt keeps what an earlier attempt already deleted (the finish service marks those too).
    ctx.result["prune"] = {**summary, "deleted": list((ctx.result.get("prune") or {}).get("deleted") or [])}
    ctx.decide(
        f"Retention ({counts.describe()}): keep {len(kept)}, delete {len(doomed)}, leave alone {len(left_alone)}"
        + (f"; {len(missing)} inventory file(s) missing on the host" if missing else ""),
        action="retention",
        detail=summary,
    )
    for backup_id, path in doomed:
        if backup_id in protected or backup_id == "this-run":  # the policy never says so; a second lock anyway
            raise StepFailed(f"Refusing to delete {path}: it is the newest verified backup or a window's evidence.")
        ctx.run(f"rm -- {q(path)}", label=f"Delete {path} (not kept by the retention policy)")
        ctx.result["prune"]["deleted"].append({"backup": backup_id, "path": path})


def _prune_preview(p: dict) -> list[str]:
    folder = p["backup_dir"].rstrip("/")
    return [
        f"test -d {q(folder)} && test -w {q(folder)}",
        f"find {q(folder)} -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%f\\n'",
        f"(decided by the portal) keep {p['keep_daily']} daily, {p['keep_weekly']} weekly, {p['keep_monthly']} "
        "monthly, the newest verified backup and every window's evidence; files not named backup_YYYYMMDD[_HHMMSS].sql "
        "or not in the inventory are left alone",
        f"rm -- {q(folder)}/backup_…sql   # once per backup the policy does not keep, each its own step",
    ]


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(getattr(settings, name))


register(
    Task(
        name="prune_backups",
        label="Prune old backups (retention)",
        description="Grandfather-father-son retention of the dumps in the backup folder: keeps the newest verified "
        "backup of each of the last N days, ISO weeks and months (OPS_BACKUP_KEEP_DAILY/WEEKLY/MONTHLY), the newest "
        "verified backup and every backup that is a maintenance window's checklist evidence; deletes the others, "
        "each with its own recorded `rm` step. Only files named like backup_database's dumps and known to the "
        "inventory are ever deleted; anything else is left alone and reported. Not disruptive: it deletes old dump "
        "files, never changes the service.",
        params=(
            _p("backup_dir", ABSOLUTE_PATH, _backup_dir_default, "Folder on the host (default OPS_BACKUP_DIR)."),
            _p("keep_daily", NUMBER, _setting("OPS_BACKUP_KEEP_DAILY"), "Days kept (default OPS_BACKUP_KEEP_DAILY)."),
            _p(
                "keep_weekly",
                NUMBER,
                _setting("OPS_BACKUP_KEEP_WEEKLY"),
                "Weeks kept (default OPS_BACKUP_KEEP_WEEKLY).",
            ),
            _p(
                "keep_monthly",
                NUMBER,
                _setting("OPS_BACKUP_KEEP_MONTHLY"),
                "Months kept (default OPS_BACKUP_KEEP_MONTHLY).",
            ),
        ),
        run=prune_backups,
        preview=_prune_preview,
        timeout=120,
        disruptive=False,
        idempotent=True,  # a second run finds nothing more to delete
    )
)

# --- copy_backup_offhost ------------------------------------------------------------------------------------------


def _destination(ctx, name: str) -> dict:
    """The destination host's snapshot; refused (a failed step, nothing connected) unless it may be used."""
    from runbooks import selectors

    host = selectors.host_for_copy(name=name)
    if host is None:
        raise StepFailed(f"The off-host copy's destination “{name}” is not a host in the admin's Hosts list.")
    if host.pk == ctx.host["id"]:
        raise StepFailed(f"The off-host copy's destination “{name}” is the run's own host: choose another host.")
    if not host.enabled:
        raise StepFailed(f"The off-host copy's destination “{name}” is disabled: enable it or choose another host.")
    if not host.is_pinned:
        raise StepFailed(
            f"The off-host copy's destination “{name}” has no pinned host key: use “Fetch and pin host key” on its "
            "admin page first (the portal never connects to an unpinned host)."
        )
    return selectors.host_snapshot(host) | {"parameter_defaults": dict(host.parameter_defaults or {})}


def copy_backup_offhost(ctx, p: dict) -> None:
    from runbooks import remote

    dump = _dump_to_use(ctx)
    destination = _destination(ctx, p["destination"])
    folder = p["destination_dir"] or destination["parameter_defaults"].get("backup_dir") or settings.OPS_BACKUP_DIR
    try:
        folder = Param("destination_dir", *ABSOLUTE_PATH).check(folder, "the off-host copy")
    except ParameterRefused as exc:
        raise StepFailed(str(exc)) from None
    folder = folder.rstrip("/")
    name = dump["path"].rsplit("/", 1)[-1]
    target, partial = f"{folder}/{name}", f"{folder}/{name}.partial-{ctx.execution_id}"
    ctx.run(f"test -r {q(dump['path'])}", label=f"Is {dump['path']} readable?", quick=True)
    there = ctx.connect(destination)
    ctx.run(
        f"test -d {q(folder)} && test -w {q(folder)}",
        label=f"Destination folder {folder} on {destination['name']} exists and is writable",
        quick=True,
        failure=f"The folder {folder} does not exist or is not writable on {destination['name']}.",
        on=there,
    )
    exists = ctx.run(
        f"test -e {q(target)}",
        label=f"Is {target} free on {destination['name']}?",
        quick=True,
        ok_exit_codes=(0, 1),
        on=there,
    )
    base = {"destination": destination["name"], "destination_id": destination["id"], "path": target}
    base |= {"source_path": dump["path"], "expected_sha256": dump["sha256"]}
    if exists.exit_code == 0:
        found = _sha256_on(ctx, target, label=f"SHA-256 of the existing {target} on {destination['name']}", on=there)
        ok = found == dump["sha256"]
        ctx.result["offhost_copy"] = {**base, "sha256": found, "verified": ok, "already_there": True}
        ctx.verify(
            f"Verify the existing copy {target} on {destination['name']}: SHA-256 matches the inventory",
            ok=ok,
            message=f"{target} already exists on {destination['name']} with SHA-256 {found}, not the backup's "
            f"{dump['sha256']}: never overwritten; move it away and copy again.",
            detail={"expected": dump["sha256"], "found": found},
        )
        return
    try:
        copied = ctx.transfer(
            f"Copy {dump['path']} ({dump['size']} bytes) from {ctx.host['name']} to {destination['name']}:{partial} "
            "through the portal (SFTP)",
            lambda: _copy(ctx, remote, dump, there, partial),
        )
        if copied["sha256_read"] != dump["sha256"]:
            raise StepFailed(
                f"The bytes read from {dump['path']} on {ctx.host['name']} have SHA-256 {copied['sha256_read']}, not "
                f"the inventory's {dump['sha256']}: the source file changed since it was verified."
            )
        found = _sha256_on(ctx, partial, label=f"SHA-256 of the copy on {destination['name']}", on=there)
        ok = found == dump["sha256"]
        ctx.result["offhost_copy"] = {**base, "sha256": found, "verified": ok, "size": copied["bytes"]}
        ctx.verify(
            f"Verify the copy on {destination['name']}: SHA-256 {found} matches the inventory"
            if ok
            else f"Verify the copy on {destination['name']}",
            ok=ok,
            message=f"The copy on {destination['name']} has SHA-256 {found}, but the backup's is {dump['sha256']}: "
            "corrupted on the way or on the destination's disk. The bad copy is deleted.",
            detail={"expected": dump["sha256"], "found": found, "path": partial},
        )
        ctx.run(
            f"ln -- {q(partial)} {q(target)} && rm -f -- {q(partial)}",
            label=f"Put the verified copy in place as {target} on {destination['name']}",
            quick=True,
            on=there,
        )
    except BaseException as exc:
        removed = ctx.cleanup(
            f"rm -f -- {q(partial)} && test ! -e {q(partial)}",
            label=f"Delete the unverified copy {partial} on {destination['name']}",
            after=exc,
            on=there,
        )
        if "offhost_copy" in ctx.result:
            ctx.result["offhost_copy"]["bad_copy_removed" if removed else "bad_copy_left"] = partial
        raise


def _copy(ctx, remote, dump: dict, there, partial: str) -> dict:
    copied = remote.copy_file(
        ctx.runner.session(ctx),
        dump["path"],
        there,
        partial,
        chunk_filter=COPY_CHUNK_FILTER,
        keep_going=ctx.keep_going,
    )
    return {
        "ok": True,
        "message": f"{copied.size} bytes sent; SHA-256 of the bytes read {copied.sha256}",
        "bytes": copied.size,
        "sha256_read": copied.sha256,
    }


def _copy_preview(p: dict) -> list[str]:
    folder = p["destination_dir"] or "<the destination's backup_dir>"
    return [
        "(from the inventory) the dump this run made, else the host's newest verified backup",
        f"(on {p['destination']}, its own pinned key) test -d {folder} && test -w {folder}",
        f"(through the portal, SFTP) copy the dump to {folder}/backup_….sql.partial-ID on {p['destination']}",
        f"(on {p['destination']}) sha256sum -- {folder}/backup_….sql.partial-ID   # must equal the inventory's SHA-256",
        f"(on {p['destination']}) ln -- ….partial-ID {folder}/backup_….sql && rm -f -- ….partial-ID"
        "   # a mismatch deletes the copy instead",
    ]


register(
    Task(
        name="copy_backup_offhost",
        label="Copy the backup to another host",
        description="Copies the dump this run made (or the host's newest verified backup) to a second host — a Host "
        "of the admin with its own pinned key — through the portal over SFTP, then runs sha256sum on the "
        "destination and compares it with the inventory's SHA-256. A mismatch fails the step and deletes the bad "
        "copy; a matching copy is recorded in the inventory (Backup copies). Never overwrites a file there.",
        params=(
            _p("destination", HOST_NAME, None, "The Host to copy to (enabled, key pinned)."),
            _p(
                "destination_dir",
                OPTIONAL_PATH,
                "",
                "Folder on the destination (empty: the destination host's backup_dir parameter, else OPS_BACKUP_DIR).",
            ),
        ),
        run=copy_backup_offhost,
        preview=_copy_preview,
        timeout=1200,
        disruptive=False,
        idempotent=True,  # a copy already there is checked, never overwritten
    )
)

# --- verify_restore ----------------------------------------------------------------------------------------------


def verify_restore(ctx, p: dict) -> None:
    import secrets

    dump = _dump_to_use(ctx)
    c, u = q(p["container"]), q(p["db_user"])
    scratch = f"{p['scratch_prefix']}_{ctx.execution_id}_{secrets.token_hex(3)}"[:63]
    if scratch == p["database"]:
        raise StepFailed("The scratch database must differ from the production database.")
    outcome = {"path": dump["path"], "database": scratch, "ok": False}
    ctx.result["restore_verification"] = outcome
    found = _sha256_on(ctx, dump["path"], label=f"SHA-256 of {dump['path']}")
    ctx.verify(
        f"{dump['path']} is the verified backup (SHA-256 matches the inventory)",
        ok=found == dump["sha256"],
        message=f"{dump['path']} has SHA-256 {found}, not the inventory's {dump['sha256']}: it changed since it was "
        "verified; not restoring it.",
        detail={"expected": dump["sha256"], "found": found},
    )
    drop = f"docker exec {c} dropdb -U {u} --if-exists {q(scratch)}"
    ctx.run(f"docker exec {c} createdb -U {u} {q(scratch)}", label=f"Create the scratch database {scratch}")
    try:
        ctx.run(
            f"docker exec -i {c} psql -U {u} -v ON_ERROR_STOP=1 -q -d {q(scratch)} < {q(dump['path'])}",
            label=f"Restore {dump['path']} into {scratch}",
            failure=f"Restoring {dump['path']} into the scratch database {scratch} failed: the dump does not restore "
            "cleanly",
        )
        sql = (
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        out = ctx.run(
            f"docker exec {c} psql -U {u} -d {q(scratch)} -tAc {q(sql)}", label=f"Count the tables in {scratch}"
        ).stdout.strip()
        tables = int(out) if out.isdigit() else -1
        outcome["tables"] = tables
        rows = None
        if p["check_table"]:
            count_sql = f"SELECT count(*) FROM {p['check_table']}"  # the allow-list: [schema.]table names only
            out = ctx.run(
                f"docker exec {c} psql -U {u} -d {q(scratch)} -tAc {q(count_sql)}",
                label=f"Count the rows of {p['check_table']} in {scratch}",
                failure=f"The restored database has no readable table {p['check_table']}",
            ).stdout.strip()
            rows = int(out) if out.isdigit() else -1
            outcome["rows"] = {p["check_table"]: rows}
        ok = tables > 0 and (rows is None or rows >= int(p["min_rows"]))
        ctx.verify(
            f"Restore verified: {tables} tables"
            + (f", {rows} rows in {p['check_table']}" if rows is not None else "")
            + f" in {scratch}",
            ok=ok,
            message=f"The dump restored into {scratch} but the sanity check failed: {tables} tables"
            + (f", {rows} rows in {p['check_table']} (at least {p['min_rows']} expected)" if rows is not None else ""),
            detail=dict(outcome),
        )
    except BaseException as exc:
        dropped = ctx.cleanup(drop, label=f"Drop the scratch database {scratch}", after=exc)
        outcome["scratch_dropped"] = dropped
        raise
    ctx.run(drop, label=f"Drop the scratch database {scratch}")
    outcome.update(ok=True, scratch_dropped=True)


def _restore_preview(p: dict) -> list[str]:
    c, u, s = q(p["container"]), q(p["db_user"]), f"{p['scratch_prefix']}_ID_RANDOM"
    cmds = [
        "(from the inventory) the dump this run made, else the host's newest verified backup",
        "sha256sum -- <dump>   # must equal the inventory's SHA-256",
        f"docker exec {c} createdb -U {u} {s}",
        f"docker exec -i {c} psql -U {u} -v ON_ERROR_STOP=1 -q -d {s} < <dump>",
        f"docker exec {c} psql -U {u} -d {s} -tAc 'SELECT count(*) FROM information_schema.tables …'",
    ]
    if p["check_table"]:
        cmds.append(f"docker exec {c} psql -U {u} -d {s} -tAc 'SELECT count(*) FROM {p['check_table']}'")
    cmds.append(f"docker exec {c} dropdb -U {u} --if-exists {s}   # always, also after a failure or a cancel")
    return cmds


register(
    Task(
        name="verify_restore",
        label="Verify the backup restores (scratch database)",
        description="Restores the dump this run made (or the host's newest verified backup) into a uniquely named "
        "scratch database (psql -v ON_ERROR_STOP=1: backup_database writes plain SQL), counts its tables (and the "
        "rows of a known table, if given), and always drops the scratch database — also after a failure, a timeout "
        "or a cancel. A success is recorded on the backup in the inventory. Not disruptive: the production database "
        "is not touched; the scratch database is new and dropped.",
        params=(
            _p("container", CONTAINER, "ersen-db-1", "Docker container running PostgreSQL."),
            _p("db_user", PG_NAME, "ersen", "PostgreSQL user (-U)."),
            _p("database", PG_NAME, "ersen", "The production database (the scratch one must differ)."),
            _p(
                "scratch_prefix",
                (r"^[a-z_][a-z0-9_]{0,30}$", "a lower-case name prefix of up to 31 characters"),
                "ersen_restore_check",
                "Start of the scratch database's name (the run id and a random suffix follow).",
            ),
            _p(
                "check_table",
                (r"^$|^[A-Za-z_][A-Za-z0-9_]{0,62}(?:\.[A-Za-z_][A-Za-z0-9_]{0,62})?$", "empty, or [schema.]table"),
                "",
                "A table that must exist in the restored database; its rows are counted (empty: tables only).",
            ),
            _p("min_rows", NUMBER, "0", "With check_table: the restore fails with fewer rows than this."),
        ),
        run=verify_restore,
        preview=_restore_preview,
        timeout=1200,
        disruptive=False,
        idempotent=True,  # a new scratch database each time, always dropped
    )
)
