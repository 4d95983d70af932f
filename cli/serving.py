"""``orderlens serve``: the prediction service on the champion model set (BentoML)."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer

from serving.launch import serve_command


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
