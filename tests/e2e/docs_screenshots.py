"""Retake the README's screenshots: run the end-to-end tests that take them, then copy each into docs/.

`make docs-screenshots` (it needs what the e2e tests need: Chromium, sshd, a database; CI=true semantics).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
TOUR = "tour_of_the_admin_with_the_demo_data"
FLOW_2 = "flow_2_approvals_gate_the_start_and_the_status_page_follows"
FLOW_3 = "flow_3_run_the_database_backup_from_the_window_and_watch_it_live"
FLOW_5 = "flow_5_incident_commander_handles_a_p1_and_the_status_page_shows_the_update"

# docs/<file> ← test-artifacts/e2e/<test>/NN-<who>-<shot>.png
SHOTS = {
    "control-room.png": (TOUR, "operator-control-room"),
    "maintenance-calendar.png": (TOUR, "operator-maintenance-calendar"),
    "start-refused-until-approved.png": (FLOW_2, "operator-start-refused-while-before-items-are-missing"),
    "runbook-output-live.png": (FLOW_3, "operator-output-arriving-live"),
    "incident-p1-sla-countdown.png": (FLOW_5, "commander-p1-opened-with-the-sla-countdown"),
}


def main() -> int:
    sys.path.insert(0, str(ROOT))  # run as a script from the project folder: `tests` must be importable
    tests = [f"tests/e2e/test_tour.py::test_{TOUR}"] + [
        f"tests/e2e/test_flows.py::test_{flow}" for flow in (FLOW_2, FLOW_3, FLOW_5)
    ]
    status = pytest.main(["-q", "-p", "no:randomly", *tests])
    if status != 0:
        print("docs-screenshots: the end-to-end tests failed; docs/ is unchanged.", file=sys.stderr)
        return int(status)
    for name, (test, shot) in SHOTS.items():
        (found,) = sorted((ARTIFACTS / test).glob(f"[0-9][0-9]-{shot}.png"))
        shutil.copyfile(found, ROOT / "docs" / name)
        print(f"docs/{name} ← {found.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
