#!/usr/bin/env python
"""Run every benchmark in bench/ (or the ones named) one after the other; exit 1 if any misses its target.

    .venv/bin/python bench/run_all.py                 # all of them
    .venv/bin/python bench/run_all.py status_load     # just one (file name without .py)

Each benchmark measures its own baseline in the same run and prints the ratio; see each script's docstring.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    if argv:
        wanted = set(argv)
        scripts = [p for p in scripts if p.stem in wanted]
        missing = wanted - {p.stem for p in scripts}
        if missing:
            print(f"unknown benchmark(s): {', '.join(sorted(missing))}; have: {', '.join(p.stem for p in sorted(HERE.glob('*.py')))}")
            return 2
    results = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        results.append((script.stem, code, time.monotonic() - started))
    print("\n=== summary ===")
    for name, code, seconds in results:
        print(f"{name:22} {'target met' if code == 0 else f'MISSED (exit {code})':18} {seconds:6.0f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
