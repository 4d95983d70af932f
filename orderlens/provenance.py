"""Where a trained artefact came from: the code version every model and pipeline records."""

from __future__ import annotations

import subprocess

from orderlens.settings import PROJECT_ROOT


def code_version() -> str:
    """The git commit of the code that trained an artefact (``unknown`` outside a checkout)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"
