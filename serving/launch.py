"""How the prediction service is launched: the ``bentoml serve`` command line and environment
(used by ``orderlens serve``, the main job, tests and benchmarks)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderlens.settings import Settings

SERVICE = "serving.service:OrderLens"
SERVICE_NAME = "orderlens"


def serve_command(
    port: int, host: str, workers: int, settings: Settings | None = None
) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment for the service (``settings``: the
    service's, default: loaded from the environment)."""
    from orderlens.settings import PROJECT_ROOT, load_settings
    from serving.guard import forwarded_allow_ips

    settings = settings or load_settings()
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
        # Whose X-Forwarded-For uvicorn believes: only serving.trusted_proxies (default none).
        "FORWARDED_ALLOW_IPS": forwarded_allow_ips(settings),
        # The model store of the home (orderlens.registry): `bentoml serve` fixes its store at
        # start, before the service could choose one, so it must be in the environment.
        "BENTOML_HOME": os.environ.get("BENTOML_HOME") or str(settings.home / "bentoml"),
    }
    return command, env
