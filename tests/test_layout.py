"""The layout's import rules hold: data flows one way and only the demo uses the simulator.

The rules are import-linter contracts in ``pyproject.toml`` (``[tool.importlinter]``); this runs
them so a change that breaks one fails the suite, with import-linter's report of the offending
import chain.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
