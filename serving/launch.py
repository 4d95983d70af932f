"""How the prediction service is launched: the ``bentoml serve`` command line and environment
(used by ``orderlens serve``, the main job, tests and benchmarks)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SERVICE = "serving.service:OrderLens"
SERVICE_NAME = "orderlens"


def serve_command(port: int, host: str, workers: int) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment for the service."""
    from orderlens.settings import PROJECT_ROOT

    bentoml = Path(sys.executable).with_name("bentoml")
    command = [
        str(bentoml),
        "serve",
        SERVICE,
        "--working-dir",
        str(PROJECT_ROOT),
        "--host",
        host,
        "--port",
        str(port),
    ]
    env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        # One OpenMP thread per LightGBM call: the workers already use every core.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "BENTOML_CONFIG_OVERRIDES": json.dumps({"services": {SERVICE_NAME: {"workers": workers}}}),
    }
    return command, env
