"""Runs one execution in a worker: claim, run each planned task, record every command and its output, finish.

No transaction is open while SSH or HTTP work happens; each state change is a short service call.
A heartbeat thread proves the worker is alive (the reaper marks a silent run `lost`); the main
loop streams output into the step row, and polls for cancellation and for losing the claim.

Every remote command is sent as

    timeout --kill-after=5s N sh -c '<command>' ersen-run-e<execution>-<random>

so the host itself ends it after N seconds (with its whole process group), and the unique marker
lets a second SSH command (`pkill -f`) stop it on cancel.

A dropped database connection (restart, failover, `pg_terminate_backend`) does not end a run: every
state write and control poll goes through `ersen_ops.core.db.db_retry`, which reconnects and
retries for up to OPS_DB_RETRY_SECONDS. When the database stays away longer, the runner stops the
remote command on the host (a command must not keep running unobserved), records the step and
the execution as failed with the reason as soon as the database answers again, and gives up.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ersen_ops.core.db import DatabaseUnavailable, call_with_retry
from ersen_ops.core.errors import DomainError
from runbooks import library, policy, selectors, services
from runbooks.choices import ExecutionStatus, StepKind, StepStatus
from runbooks.library import StepFailed
from runbooks.models import RunbookExecution
from runbooks.output import CappedBuffer

logger = logging.getLogger(__name__)

KILL_AFTER = 5  # seconds between TERM and KILL on the host
QUICK_TIMEOUT = 30  # inspection commands (test, stat, head …)
PORTAL_GRACE = 15  # the portal's own backstop beyond the host's timeout
FLUSH_SECONDS = 0.5  # output flush and cancellation poll while a command runs
READ_WAIT = 0.1


class StepTimedOut(Exception):
    pass


class Cancelled(Exception):
    pass


class DatabaseLost(Exception):
    """The database stayed unreachable while a command ran; the command was stopped. `str()` says it all."""


@dataclass
class CommandResult:
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float


def outcome_words(exc: BaseException) -> str:
    """How a step ended, in words, from the exception that ended it."""
    if isinstance(exc, Cancelled):
        return "was cancelled"
    if isinstance(exc, StepTimedOut):
        return "timed out"
    if isinstance(exc, StepFailed):
        return "failed"
    if isinstance(exc, DatabaseLost | DatabaseUnavailable):
        return "lost the database"
    if isinstance(exc, services.LostClaim):
        return "was no longer this worker's"
    return f"stopped ({type(exc).__name__})"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(threading.Thread):
    """Proves this worker process is alive, independently of what the main thread is blocked on."""

    def __init__(self, execution_id: int, token: str, interval: float):
        super().__init__(name=f"runbook-heartbeat-{execution_id}", daemon=True)
        self.execution_id = execution_id
        self.token = token
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self):
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    if not services.execution_heartbeat(execution_id=self.execution_id, token=self.token):
                        return  # finished or reaped: nothing left to prove
                except Exception:  # noqa: BLE001 - a failed heartbeat is retried at the next beat
                    logger.warning("heartbeat of runbook execution %s failed", self.execution_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)


class TaskContext:
    """What a library task sees: run commands, record decisions and checks, fill the result."""

    def __init__(self, runner: Runner, plan_index: int, step: dict, attempt: int = 1):
        self.runner = runner
        self.plan_index = plan_index
        self.attempt = attempt
        self.task = step["task"]
        self.timeout = int(step["timeout"])
        self.params = step["params"]
        self.execution_id = runner.execution_id
        self.result = runner.result

    def now(self):
        return timezone.now()

    @property
    def host(self) -> dict:
        """The run's host as snapshotted at launch (id, name, address, pinned key)."""
        return self.runner._host

    def connect(self, host: dict):
        """Open (once per run) a session to another host — e.g. an off-host copy's destination — with *its* pinned
        key, recorded as a connect step. Pass the result as `on=` to `run`/`cleanup`. `host` is a host snapshot."""
        return self.runner.session(self, host)

    def keep_going(self) -> bool:
        return not self.runner.poll_control(raise_on_cancel=False)

    def _begin(self, kind: str, label: str, command: str = "", timeout: int | None = None):
        return services.execution_step_begin(
            execution_id=self.execution_id,
            token=self.runner.token,
            plan_index=self.plan_index,
            task=self.task,
            kind=kind,
            label=label,
            command=command,
            timeout=timeout,
            attempt=self.attempt,
        )

    def decide(self, label: str, *, action: str, detail: dict | None = None) -> None:
        step = self._begin(StepKind.DECISION, label)
        services.execution_step_finish(
            step=step, status=StepStatus.SUCCEEDED, detail={"action": action, **(detail or {})}
        )

    def verify(self, label: str, *, ok: bool, message: str = "", detail: dict | None = None) -> None:
        step = self._begin(StepKind.VERIFY, label)
        services.execution_step_finish(
            step=step,
            status=StepStatus.SUCCEEDED if ok else StepStatus.FAILED,
            error="" if ok else message,
            detail=detail,
        )
        if not ok:
            raise StepFailed(message)

    def check(self, label: str, func: Callable[[], dict], *, raise_on_failure: bool = True) -> dict:
        return self._portal_step(StepKind.CHECK, label, func, raise_on_failure=raise_on_failure)

    def transfer(self, label: str, func: Callable[[], dict]) -> dict:
        """Work the portal does between hosts (an SFTP copy), recorded like a check: `func` returns {"ok", "message",
        …}; a failure (or an exception) fails the step with its message, a cancel seen meanwhile cancels it."""
        return self._portal_step(StepKind.TRANSFER, label, func, raise_on_failure=True)

    def _portal_step(self, kind: str, label: str, func: Callable[[], dict], *, raise_on_failure: bool) -> dict:
        step = self._begin(kind, label)
        try:
            outcome = func()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, with its reason
            logger.exception("check %r crashed", label)
            outcome = {"ok": False, "message": f"the check itself failed: {type(exc).__name__}: {exc}"}
        ok = bool(outcome.get("ok"))
        if not ok and self.runner._cancel_seen:
            services.execution_step_finish(
                step=step,
                status=StepStatus.CANCELLED,
                error=f"Cancelled by {self.runner._cancel_seen}.",
                detail=outcome,
            )
            raise Cancelled(f"Cancelled by {self.runner._cancel_seen} during “{label}”.")
        services.execution_step_finish(
            step=step,
            status=StepStatus.SUCCEEDED if ok else StepStatus.FAILED,
            error="" if ok else outcome.get("message", ""),
            detail=outcome,
        )
        if not ok and raise_on_failure:
            raise StepFailed(f"{label}: {outcome.get('message', 'failed')}")
        return outcome

    def cleanup(self, command: str, *, label: str, after: BaseException, on=None) -> bool:
        """Housekeeping after `after` (a failure, a timeout, a cancel) ended a command: run it anyway, recorded.

        Runs even though the run is cancelled (no cancellation check) and bounded by QUICK_TIMEOUT on the host
        (the run's host, or the session `on` from `connect`). True if it exited 0.
        """
        return self.runner.housekeeping(
            self, command, label=f"{label} (after the step {outcome_words(after)})", session=on
        )

    def run(
        self,
        command: str,
        *,
        label: str,
        quick: bool = False,
        ok_exit_codes: tuple[int, ...] | None = (0,),
        failure: str | None = None,
        on=None,
    ) -> CommandResult:
        """Run `command` on the run's host (or on the session `on` from `connect`), recorded as a step."""
        timeout = min(self.timeout, QUICK_TIMEOUT) if quick else self.timeout
        return self.runner.run_command(
            self, command, label=label, timeout=timeout, ok_exit_codes=ok_exit_codes, failure=failure, session=on
        )


class Runner:
    def __init__(self, execution_id: int, *, task_id: str = "", worker: str = ""):
        self.execution_id = execution_id
        self.task_id = task_id
        self.worker = worker or worker_name()
        self.token = ""
        self.result: dict = {}
        self._session = None
        self._other_sessions: dict = {}  # host id → Session, for tasks that reach a second host (ctx.connect)
        self._host: dict = {}
        self._cancel_seen: str | None = None

    # --- control -----------------------------------------------------------------------------------------

    def poll_control(self, *, raise_on_cancel: bool = True) -> bool:
        """Raise LostClaim if the run is no longer ours; return True (or raise Cancelled) if cancel was requested."""
        control = selectors.execution_control(execution_id=self.execution_id)
        if control is None or control["status"] != ExecutionStatus.RUNNING or control["claim_token"] != self.token:
            raise services.LostClaim(control["status"] if control else "deleted")
        if control["cancel_requested_at"]:
            self._cancel_seen = control["cancel_requested_by_name"] or "an operator"
            if raise_on_cancel:
                raise Cancelled(f"Cancelled by {self._cancel_seen}.")
            return True
        return False

    # --- SSH ---------------------------------------------------------------------------------------------

    def session(self, ctx: TaskContext, host: dict | None = None):
        other = host is not None and host.get("id") != self._host.get("id")
        if not other and self._session is not None:
            return self._session
        if other and host["id"] in self._other_sessions:
            return self._other_sessions[host["id"]]
        from runbooks import remote

        h = host if other else self._host
        key = None
        if h.get("host_key"):
            key = remote.HostKey(h["host_key_type"], h["host_key"], h["host_key_fingerprint"])
        target = remote.Target(
            name=h["name"], hostname=h["hostname"], port=int(h["port"]), user=h["user"], host_key=key
        )
        pinned = key.describe() if key else "no pinned key"
        step = ctx._begin(StepKind.CONNECT, f"Connect to {target.describe()}, expecting host key {pinned}")
        try:
            session = remote.open_session(
                target, key_file=settings.OPS_SSH_KEY_FILE, connect_timeout=settings.OPS_SSH_CONNECT_TIMEOUT
            )
        except remote.RemoteError as exc:
            services.execution_step_finish(
                step=step, status=StepStatus.FAILED, error=str(exc), detail={"kind": exc.kind}
            )
            raise StepFailed(str(exc)) from None
        services.execution_step_finish(
            step=step, status=StepStatus.SUCCEEDED, detail={"host_key": pinned, "host": h.get("name", "")}
        )
        if other:
            self._other_sessions[host["id"]] = session
        else:
            self._session = session
        return session

    def kill_remote(self, ctx: TaskContext, marker: str, why: str, *, record: bool = True, session=None) -> str:
        """Stop every process of a command on the host (a second SSH command), recorded as its own step.

        With `record=False` (the database is away) nothing is written: the kill must not wait for it.
        Returns what happened, in words.
        """
        pattern = shlex.quote(f"[{marker[0]}]{marker[1:]}")  # the brackets keep pkill's own shell from matching
        command = f"pkill -TERM -f {pattern}; sleep 1; pkill -KILL -f {pattern}; true"
        step = None
        if record and self._claim_still_ours():
            step = services.execution_step_begin(
                execution_id=self.execution_id,
                token=self.token,
                plan_index=ctx.plan_index,
                task=ctx.task,
                kind=StepKind.COMMAND,
                label=f"Stop the {why} command on the host",
                command=command,
                timeout=15,
                attempt=ctx.attempt,
            )
        try:
            code, out, err = (session or self._session).run_quick(command, timeout=15)
            error = ""
        except Exception as exc:  # noqa: BLE001 - the remote `timeout` still bounds the command
            code, out, err, error = None, "", "", f"could not stop it: {exc}"
        if step is not None:
            o, e = CappedBuffer(), CappedBuffer()
            o.write(out.encode()), e.write(err.encode())
            services.execution_step_finish(
                step=step,
                status=StepStatus.FAILED if error else StepStatus.SUCCEEDED,
                exit_code=code,
                error=error,
                stdout=o,
                stderr=e,
            )
        return error or "the command was stopped on the host"

    def housekeeping(self, ctx: TaskContext, command: str, *, label: str, session=None) -> bool:
        """Run a short command even after a cancel or a timeout (see TaskContext.cleanup); recorded when possible."""
        session = session or self._session
        if session is None:
            return False  # never connected: nothing was started on the host
        wrapped = f"timeout --kill-after={KILL_AFTER}s {QUICK_TIMEOUT}s sh -c {shlex.quote(command)}"
        step = None
        try:
            if self._claim_still_ours():
                step = ctx._begin(StepKind.COMMAND, label, command=wrapped, timeout=QUICK_TIMEOUT)
        except (DatabaseUnavailable, services.LostClaim):
            step = None  # still clean up on the host; there is nothing to record it in
        try:
            code, out, err = session.run_quick(wrapped, timeout=QUICK_TIMEOUT + KILL_AFTER + 5)
            error = "" if code == 0 else f"“{label}” failed (exit code {code}): {(err or out).strip()[-500:]}"
        except Exception as exc:  # noqa: BLE001 - housekeeping must not hide the step's own outcome
            code, out, err, error = None, "", "", f"could not run it: {exc}"
        if step is not None:
            o, e = CappedBuffer(), CappedBuffer()
            o.write(out.encode()), e.write(err.encode())
            try:
                services.execution_step_finish(
                    step=step,
                    status=StepStatus.SUCCEEDED if code == 0 else StepStatus.FAILED,
                    exit_code=code,
                    error=error,
                    stdout=o,
                    stderr=e,
                )
            except DatabaseUnavailable:
                logger.error(
                    "runbook execution %s: %s ran (exit %s) but could not be recorded", self.execution_id, label, code
                )
        return code == 0

    def _claim_still_ours(self) -> bool:
        control = selectors.execution_control(execution_id=self.execution_id)
        return bool(control and control["status"] == ExecutionStatus.RUNNING and control["claim_token"] == self.token)

    def run_command(
        self, ctx: TaskContext, command: str, *, label: str, timeout: int, ok_exit_codes, failure, session=None
    ):
        self.poll_control()
        session = session or self.session(ctx)
        marker = f"ersen-run-e{self.execution_id}-{uuid.uuid4().hex[:10]}"
        wrapped = f"timeout --kill-after={KILL_AFTER}s {timeout}s sh -c {shlex.quote(command)} {marker}"
        step = ctx._begin(StepKind.COMMAND, label, command=wrapped, timeout=timeout)
        out, err = CappedBuffer(), CappedBuffer()
        from runbooks import remote

        started = time.monotonic()
        try:
            proc = session.start(wrapped)
        except remote.RemoteError as exc:
            services.execution_step_finish(step=step, status=StepStatus.FAILED, error=str(exc))
            raise StepFailed(str(exc)) from None
        flushed = (0, 0)
        last_poll = started
        stop_reason = None  # "cancelled" | "timed out" | "lost" | "database"
        stop_deadline = None
        lost = None
        database_error: DatabaseUnavailable | None = None
        killed = ""
        try:
            while True:
                o, e = proc.read(READ_WAIT)
                out.write(o)
                err.write(e)
                if proc.finished:
                    break
                now = time.monotonic()
                if now - last_poll >= FLUSH_SECONDS and stop_reason != "database":
                    last_poll = now
                    try:
                        if (out.version, err.version) != flushed:
                            services.execution_step_output(step=step, stdout=out, stderr=err)
                            flushed = (out.version, err.version)
                        if stop_reason is None:
                            try:
                                if self.poll_control(raise_on_cancel=False):
                                    stop_reason = "cancelled"
                            except services.LostClaim as exc:
                                stop_reason, lost = "lost", exc
                            if stop_reason is None and now - started > timeout + KILL_AFTER + PORTAL_GRACE:
                                stop_reason = "timed out"
                            if stop_reason is not None:
                                self.kill_remote(ctx, marker, stop_reason, session=session)
                                stop_deadline = time.monotonic() + 10
                    except DatabaseUnavailable as exc:
                        # Nobody can see or cancel this command any more: stop it rather than let it run blind.
                        stop_reason, database_error = "database", exc
                        killed = self.kill_remote(ctx, marker, "unobserved", record=False, session=session)
                        stop_deadline = time.monotonic() + 10
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    break  # the channel did not close after the kill: give up waiting (the host's timeout remains)
        finally:
            proc.close()
        elapsed = time.monotonic() - started
        code = proc.exit_code
        if stop_reason == "database":
            shown = "no exit status" if code is None else f"exit {code}"
            message = (
                f"The worker lost the database while “{label}” ran: {database_error}. Nobody could see or cancel "
                f"the command any more, so the worker stopped it ({killed}; {shown}) and gave up. "
                "Check the host before retrying."
            )
            try:
                services.execution_step_finish(
                    step=step, status=StepStatus.FAILED, exit_code=code, stdout=out, stderr=err, error=message
                )
            except DatabaseUnavailable:
                logger.error("runbook execution %s: could not record step %s: %s", self.execution_id, step.pk, message)
            raise DatabaseLost(message)
        if stop_reason == "lost":
            services.execution_step_finish(
                step=step,
                status=StepStatus.CANCELLED,
                exit_code=code,
                stdout=out,
                stderr=err,
                error="Stopped: the execution was no longer this worker's.",
            )
            raise lost
        if stop_reason == "cancelled":
            services.execution_step_finish(
                step=step,
                status=StepStatus.CANCELLED,
                exit_code=code,
                stdout=out,
                stderr=err,
                error=f"Cancelled by {self._cancel_seen}; the command was stopped on the host.",
            )
            raise Cancelled(f"Cancelled by {self._cancel_seen} during “{label}”; the command was stopped on the host.")
        if stop_reason == "timed out" or (code in (124, 137) and elapsed >= timeout - 0.5):
            message = (
                f"“{label}” was still running after its {timeout} s timeout: the host stopped it "
                f"(timeout {timeout}s, exit {code if code is not None else 'none'})."
            )
            services.execution_step_finish(
                step=step, status=StepStatus.TIMED_OUT, exit_code=code, stdout=out, stderr=err, error=message
            )
            raise StepTimedOut(message)
        ok = ok_exit_codes is None or code in ok_exit_codes
        error = ""
        if not ok:
            reason = failure or f"“{label}” failed"
            tail = err.last_text(2000).strip() or out.last_text(2000).strip()
            last_lines = " | ".join(tail.splitlines()[-3:])
            shown = "no exit status (killed by a signal?)" if code is None else f"exit code {code}"
            error = f"{reason} ({shown})" + (f": {last_lines}" if last_lines else "")
        services.execution_step_finish(
            step=step,
            status=StepStatus.SUCCEEDED if ok else StepStatus.FAILED,
            exit_code=code,
            stdout=out,
            stderr=err,
            error=error,
        )
        if not ok:
            raise StepFailed(error)
        return CommandResult(code, out.text(), err.text(), elapsed)

    # --- the run -----------------------------------------------------------------------------------------

    def run(self) -> str:
        claim = services.execution_claim(execution_id=self.execution_id, task_id=self.task_id, worker=self.worker)
        if not claim.token:
            logger.info("runbook execution %s not run: %s (%s)", self.execution_id, claim.reason, claim.status)
            return claim.reason
        self.token = claim.token
        heartbeat = Heartbeat(self.execution_id, self.token, policy.heartbeat_interval(settings.OPS_RUNBOOK_LOST_AFTER))
        heartbeat.start()
        status, error = ExecutionStatus.SUCCEEDED, ""
        try:
            execution = call_with_retry(
                RunbookExecution.objects.get, pk=self.execution_id, what="reading the execution"
            )
            self._host = execution.host_snapshot
            plan = execution.plan
            status, error = self._run_plan(plan)
        except services.LostClaim as exc:
            logger.warning("runbook execution %s is no longer ours (%s): stopping", self.execution_id, exc)
            status = None
        except Exception as exc:  # noqa: BLE001 - never leave a run "running": record a readable failure
            logger.exception("runbook execution %s crashed", self.execution_id)
            status = ExecutionStatus.FAILED
            error = (
                f"Internal error in the runner ({type(exc).__name__}: {exc}); the worker log {self.worker} has details."
            )
        finally:
            for session in (self._session, *self._other_sessions.values()):
                if session is not None:
                    session.close()
            heartbeat.stop()
        if status is not None:
            try:
                services.execution_finish(
                    execution_id=self.execution_id, token=self.token, status=status, result=self.result, error=error
                )
            except DatabaseUnavailable as exc:
                # Loudly: the record stays "running" until the reaper marks it lost (once the database is back).
                logger.error(
                    "runbook execution %s ended %s but could not be recorded (%s): %s",
                    self.execution_id,
                    status,
                    exc,
                    error or "no error",
                )
                return "database_unavailable"
        return status or "lost_claim"

    def _run_plan(self, plan: list[dict]) -> tuple[str, str]:
        total = len(plan)
        # Re-validate the snapshot before anything connects (it is data; data can be edited).
        try:
            for step in plan:
                library.check_unknown_params(step["task"], step.get("params") or {})
                library.validate_params(step["task"], step.get("params") or {})
        except DomainError as exc:
            return ExecutionStatus.FAILED, f"Refused before connecting: {exc}"
        for index, step in enumerate(plan):
            spec = library.get_task(step["task"])
            where = f"Step {index + 1} of {total} ({spec.label})"
            retries = int(step.get("retries") or 0)
            attempt = 1
            while True:
                try:
                    self.poll_control()
                    ctx = TaskContext(self, index, step, attempt)
                    spec.run(ctx, dict(step["params"]))
                    break
                except StepFailed as exc:
                    if not policy.should_retry_step(attempt=attempt, retries=retries, outcome="failed"):
                        tried = f" (after {attempt} attempts)" if attempt > 1 else ""
                        return ExecutionStatus.FAILED, f"{where}{tried}: {exc}"
                    outcome = self._wait_before_retry(ctx, exc, attempt, retries, int(step.get("retry_delay") or 0))
                    if outcome is not None:
                        return outcome[0], f"{where}: {outcome[1]}"
                    attempt += 1
                except StepTimedOut as exc:
                    return ExecutionStatus.TIMED_OUT, f"{where}: {exc}"
                except Cancelled as exc:
                    return ExecutionStatus.CANCELLED, f"{where}: {exc}"
                except DatabaseLost as exc:
                    return ExecutionStatus.FAILED, f"{where}: {exc}"
                except DatabaseUnavailable as exc:
                    return ExecutionStatus.FAILED, f"{where}: the worker lost the database and gave up: {exc}."
        return ExecutionStatus.SUCCEEDED, ""

    def _wait_before_retry(self, ctx: TaskContext, exc: StepFailed, attempt: int, retries: int, delay: int):
        """Record the decision to retry, then wait `delay` seconds polling for cancellation.

        Returns None to retry, or (status, error) when the run must end instead (cancelled during the wait)."""
        ctx.decide(
            f"Attempt {attempt} of {retries + 1} failed ({str(exc)[:200]}): retrying in {delay} s",
            action="retry",
        )
        deadline = time.monotonic() + delay
        try:
            while True:
                self.poll_control()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                time.sleep(min(FLUSH_SECONDS, left))
        except Cancelled as cancelled:
            return ExecutionStatus.CANCELLED, f"{cancelled} (while waiting to retry after attempt {attempt})"


def run_execution(execution_id: int, *, task_id: str = "", worker: str = "") -> str:
    return Runner(execution_id, task_id=task_id, worker=worker).run()
