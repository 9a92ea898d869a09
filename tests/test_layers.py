"""The layers, read from the code: a lower app never imports a higher one (README "Layout", pyproject's
[tool.importlinter] contract), counting imports inside functions too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_app_imports_a_higher_layer():
    result = lint_imports(cwd=Path(settings.BASE_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_inside_a_function_breaks_the_layers(tmp_path):
    """The check is not fooled by a deferred import: `low` importing `high` inside a function fails."""
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    (tmp_path / "low" / "__init__.py").write_text("")
    (tmp_path / "high" / "__init__.py").write_text("")
    (tmp_path / "high" / "views.py").write_text("from low import rules\n")
    (tmp_path / "low" / "rules.py").write_text("def later():\n    from high import views\n\n    return views\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_packages =\n    low\n    high\n\n"
        "[importlinter:contract:layers]\nname = layers\ntype = layers\nlayers =\n    high\n    low\n"
    )
    result = lint_imports("--config", ".importlinter", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "low.rules -> high.views" in result.stdout
