"""ersen-ops: the deploy gate, maintenance windows, incidents and runbook runs from CI and the shell.

Exit codes: 0 done / allowed; 1 refused (gate denied, a rule refused, the run failed — its exit code when it gave one);
2 usage, configuration or connection errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta

from ersen_ops_cli import __version__
from ersen_ops_cli.client import Client, Problem, UsageError

FINAL_OK = "succeeded"
# Seconds between progress lines when stderr is no terminal (CI logs); ERSEN_OPS_PROGRESS_SECONDS overrides it.
PROGRESS_EVERY = 30.0


# --- helpers ---------------------------------------------------------------------------------------------------


def ci_reference() -> str:
    """The CI job asking, for the gate's audit: GitHub Actions' run URL or GitLab's job URL."""
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL", "")


_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


def parse_when(text: str, now: datetime) -> datetime:
    """'2027-01-12T03:30:00Z' or a duration from now: '30m', '1h', '1h30m'."""
    match = _DURATION.match(text or "")
    if match and any(match.groups()):
        return now + timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is neither a time (2027-01-12T03:30:00Z) nor a duration (30m, 1h30m).") from None
    if moment.tzinfo is None:
        raise UsageError(f"Give the time zone of {text!r} (e.g. 2027-01-12T03:30:00Z or …-08:00).")
    return moment


def out(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def show_json(data) -> None:
    out(json.dumps(data, indent=2, sort_keys=True))


# --- commands ------------------------------------------------------------------------------------------------------


def cmd_gate(client: Client, args) -> int:
    params = {"components": args.components}
    if args.window:
        params["window"] = args.window
    reference = args.reference if args.reference is not None else ci_reference()
    if reference:
        params["reference"] = reference
    answer = client.get("deploy-gate", params)
    if args.json:
        show_json(answer)
    else:
        verdict = "ALLOWED" if answer["allowed"] else "DENIED"
        out(f"{verdict}: deploy of {', '.join(answer.get('components') or [args.components])}")
        for reason in answer.get("reasons", []):
            out(f"  - {reason}")
    return 0 if answer["allowed"] else 1


def _window_line(window: dict) -> str:
    eta = f", ETA {window['eta']}" if window.get("eta") else ""
    return f"{window['id']} “{window.get('title', '')}” is {window.get('status', '?')}{eta}"


def cmd_window(client: Client, args) -> int:
    path = f"maintenance-windows/{args.window}"
    if args.action == "start":
        answer = client.post(f"{path}/start", {"justification": args.justification or ""})
    elif args.action == "complete":
        answer = client.post(f"{path}/complete")
    elif args.action == "eta":
        eta = parse_when(args.eta, datetime.now(UTC))
        answer = client.post(f"{path}/eta", {"eta": eta.isoformat(), "reason": args.reason})
    else:
        answer = client.get(path)
    show_json(answer) if args.json else out(_window_line(answer))
    return 0


def _components(values) -> list[dict]:
    result = []
    for value in values or ():
        name, _, impact = value.partition(":")
        result.append({"component": name.strip(), "impact": (impact or "partial_outage").strip()})
    return result


def cmd_incident(client: Client, args) -> int:
    if args.action == "open":
        body = {"title": args.title, "level": args.level, "components": _components(args.component)}
        if args.message:
            body["message"] = args.message
        if args.window:
            body["maintenance_window"] = args.window
        answer = client.post("incidents", body)
    elif args.action == "update":
        answer = client.post(
            f"incidents/{args.incident}/updates",
            {"status": args.status, "body": args.body, "public": not args.internal},
        )
        if "incident" in answer and isinstance(answer["incident"], dict):
            answer = answer["incident"]
    else:
        body = {"body": args.body}
        if args.postmortem_url:
            body["postmortem_url"] = args.postmortem_url
        answer = client.post(f"incidents/{args.incident}/resolve", body)
    if args.json:
        show_json(answer)
    else:
        out(
            f"{answer.get('id', args.__dict__.get('incident', ''))} {answer.get('level', '')} “{answer.get('title', '')}” is {answer.get('status', 'updated')}"
        )
    return 0


class Progress:
    """A status line on a terminal (rewritten in place), a line every PROGRESS_EVERY seconds otherwise."""

    def __init__(self, stream=None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        try:
            self.every = float(os.environ.get("ERSEN_OPS_PROGRESS_SECONDS") or PROGRESS_EVERY)
        except ValueError:
            self.every = PROGRESS_EVERY
        self.clock = clock
        self.tty = self.stream.isatty()
        self.started = clock()
        self.last_line = self.started
        self.shown = False

    def tick(self, status: str, step: str) -> None:
        waited = self.clock() - self.started
        text = f"… {status} for {int(waited)} s" + (f" — {step}" if step else "")
        if self.tty:
            self.stream.write("\r" + text[:110].ljust(110))
            self.stream.flush()
            self.shown = True
        elif self.clock() - self.last_line >= self.every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_line = self.clock()

    def clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()
            self.shown = False


def _current_step(execution: dict) -> str:
    steps = execution.get("steps") or []
    running = [s for s in steps if s.get("status") == "running"]
    if running:
        return f"step {running[0].get('order')}/{len(steps)}: {running[0].get('label', '')}"
    return ""


def cmd_runbook(client: Client, args) -> int:
    parameters = {}
    for value in args.param or ():
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes NAME=VALUE, not {value!r}.")
        parameters[key.strip()] = val
    body = {"runbook": args.slug, "host": args.host, "parameters": parameters}
    if args.window:
        body["window"] = args.window
    if args.justification:
        body["justification"] = args.justification
    execution = client.post("executions", body)
    err(f"Launched {args.slug} on {args.host}: execution {execution['id']} ({execution['status']}).")
    if not args.wait:
        if args.json:
            show_json(execution)
        return 0
    return follow(client, execution, poll=args.poll, max_wait=args.max_wait)


def follow(client: Client, execution: dict, *, poll: float, max_wait: float | None, sleep=time.sleep) -> int:
    """Stream the run's output until it is final; the exit code is the run's."""
    progress = Progress()
    offset, pk = 0, execution["id"]
    started = time.monotonic()
    while True:
        chunk = client.get(f"executions/{pk}/output", {"offset": offset})
        if chunk.get("text"):
            progress.clear()
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
        offset = chunk.get("next_offset", offset)
        if chunk.get("final"):
            progress.clear()
            status, code = chunk.get("status"), chunk.get("exit_code")
            err(f"Execution {pk} {status}" + (f" (exit {code})" if code is not None else "") + ".")
            if status == FINAL_OK:
                return 0
            return code if isinstance(code, int) and 0 < code < 256 else 1
        if max_wait is not None and time.monotonic() - started > max_wait:
            progress.clear()
            err(f"Gave up waiting after {int(max_wait)} s; execution {pk} is still {chunk.get('status')}.")
            return 1
        if not chunk.get("text"):
            detail = client.get(f"executions/{pk}")
            progress.tick(detail.get("status", chunk.get("status", "")), _current_step(detail))
        sleep(poll)


# --- the parser -----------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ersen-ops",
        description="The Ersen Ops operations API from CI and the shell. Reads ERSEN_OPS_URL and ERSEN_OPS_TOKEN.",
    )
    p.add_argument("--version", action="version", version=f"ersen-ops {__version__}")
    p.add_argument("--url", help="The portal (default: $ERSEN_OPS_URL)")
    p.add_argument("--timeout", type=float, default=30.0, help="Seconds per HTTP request (default 30)")
    p.add_argument("--json", action="store_true", help="Print the API's answer as JSON")
    sub = p.add_subparsers(dest="command", required=True)

    gate = sub.add_parser("gate", help="May a deploy of these components go out now? Exit 0 allowed, 1 denied.")
    gate.add_argument("--components", required=True, help="Comma-separated names or ids: api,website")
    gate.add_argument("--window", help="Check this window (mnt_…) only")
    gate.add_argument("--reference", help="Who asks, for the audit (default: the CI job's URL)")
    gate.set_defaults(run=cmd_gate)

    window = sub.add_parser("window", help="Start, complete or re-estimate a maintenance window")
    wsub = window.add_subparsers(dest="action", required=True)
    start = wsub.add_parser("start", help="scheduled → in progress (every “before” item done)")
    start.add_argument("window", help="mnt_…")
    start.add_argument("--justification", help="Emergency windows: why it starts now with open items")
    complete = wsub.add_parser("complete", help="in progress → completed (every “during” item done)")
    complete.add_argument("window")
    eta = wsub.add_parser("eta", help="Change the estimated completion (published, kept in the history)")
    eta.add_argument("window")
    when = eta.add_mutually_exclusive_group(required=True)
    when.add_argument("--eta", help="2027-01-12T03:30:00Z")
    when.add_argument("--in", dest="eta", help="From now: 30m, 1h, 1h30m")
    eta.add_argument("--reason", required=True, help="Why (published with the new ETA)")
    show = wsub.add_parser("show", help="The window's state")
    show.add_argument("window")
    window.set_defaults(run=cmd_window)

    incident = sub.add_parser("incident", help="Open, update or resolve an incident")
    isub = incident.add_subparsers(dest="action", required=True)
    opening = isub.add_parser("open")
    opening.add_argument("--title", required=True)
    opening.add_argument("--level", required=True, choices=["P1", "P2", "P3", "P4"])
    opening.add_argument(
        "--component", action="append", help="NAME[:impact] (degraded_performance, partial_outage, major_outage)"
    )
    opening.add_argument("--message", help="First public update (Investigating)")
    opening.add_argument("--window", help="The maintenance window that caused it (mnt_…)")
    update = isub.add_parser("update")
    update.add_argument("incident", help="inc_…")
    update.add_argument("--status", required=True, choices=["investigating", "identified", "monitoring"])
    update.add_argument("--body", required=True)
    update.add_argument("--internal", action="store_true", help="Keep it in the admin (not published)")
    resolve = isub.add_parser("resolve")
    resolve.add_argument("incident")
    resolve.add_argument("--body", required=True, help="The final public update")
    resolve.add_argument("--postmortem-url")
    incident.set_defaults(run=cmd_incident)

    runbook = sub.add_parser("runbook", help="Run a runbook on a host")
    rsub = runbook.add_subparsers(dest="action", required=True)
    run = rsub.add_parser("run")
    run.add_argument("slug")
    run.add_argument("--host", required=True)
    run.add_argument("--window", help="The window it runs under (mnt_…)")
    run.add_argument("--param", action="append", help="NAME=VALUE, overriding a step parameter")
    run.add_argument("--justification")
    run.add_argument("--wait", action="store_true", help="Stream the output; exit with the run's code")
    run.add_argument("--poll", type=float, default=1.0, help="Seconds between output polls (default 1)")
    run.add_argument("--max-wait", type=float, default=None, help="Give up waiting after this many seconds")
    runbook.set_defaults(run=cmd_runbook)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        client = Client(url=args.url, timeout=args.timeout)
    except UsageError as exc:
        err(f"ersen-ops: {exc}")
        return 2
    try:
        return args.run(client, args)
    except UsageError as exc:
        err(f"ersen-ops: {exc}")
        return 2
    except Problem as exc:
        err(f"ersen-ops: {exc}")
        return 1 if 400 <= exc.status < 500 and exc.status not in (401, 404, 429) else 2
    except KeyboardInterrupt:
        err("ersen-ops: interrupted")
        return 130
    finally:
        client.close()
