"""``orderlens serve``: the prediction service on the champion model set (BentoML)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

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


def serve(
    port: Annotated[int, typer.Option(help="HTTP port")] = 3000,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="worker processes (one per core)")] = 1,
) -> None:
    """Serve predictions over HTTP: POST /predict (delay risk with reasons, value scores, actions),
    GET /healthz, /readyz, /metadata, /docs.json. Runs `bentoml serve serving.service:OrderLens`
    on the champion model set (`orderlens train --promote` first) and reloads it on promotion."""
    command, env = serve_command(port, host, workers)
    typer.echo(f"serving on http://{host}:{port} ({workers} worker(s)); Ctrl-C stops")
    raise typer.Exit(subprocess.call(command, env=env))
