"""The documented examples stay true: every `ersen-ops …` line of the CI examples is a command the CLI accepts, and
the documented Alertmanager receiver configuration passes amtool's check."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import CLI_SOURCE
from tests.conftest import require_program

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci"
CI_EXAMPLES = ["github-actions.yml", "gitlab-ci.yml"]


def commands(text: str) -> list[list[str]]:
    found = []
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").removeprefix("run: ")
        if not line.startswith("ersen-ops "):
            continue
        line = line.split(" || ")[0].rstrip(";")
        line = re.sub(r"\$\{\{[^}]*\}\}", "X", line)  # GitHub expressions
        found.append(shlex.split(line)[1:])
    return found


@pytest.mark.parametrize("name", CI_EXAMPLES)
def test_ci_examples_use_only_commands_the_cli_accepts(name):
    text = (DOCS / name).read_text()
    yaml.safe_load(text)
    found = commands(text)
    assert {c[0] for c in found} >= {"window", "gate", "runbook"}, found
    sys.path.insert(0, str(CLI_SOURCE))
    try:
        from ersen_ops_cli.main import parser

        for argv in found:
            parser().parse_args(argv)  # SystemExit (2) on anything the CLI would refuse
    finally:
        sys.path.remove(str(CLI_SOURCE))
    assert ["gate", "--components", "api,website", "--window", found[1][-1]] == found[1]


def test_the_documented_alertmanager_receiver_passes_amtool(tmp_path):
    amtool = require_program("amtool", "/usr/bin/amtool")
    token = tmp_path / "token"
    token.write_text("eoa_example\n")
    config = tmp_path / "alertmanager.yml"
    config.write_text((DOCS / "alertmanager.yml").read_text().replace("/etc/alertmanager/ersen-ops-token", str(token)))
    done = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/api/ops/v1/alerts/alertmanager" in config.read_text()
