"""``orderlens serve`` (the prediction service on the champion model set, BentoML) and
``orderlens predict`` (batch scoring of a file through the same code)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
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
    # serve_command puts the home's model store (BENTOML_HOME) into the server's environment.
    command, env = serve_command(port, host, workers)
    typer.echo(f"serving on http://{host}:{port} ({workers} worker(s)); Ctrl-C stops")
    raise typer.Exit(subprocess.call(command, env=env))


def predict(
    orders: Annotated[
        Path, typer.Option(help="file of orders: .parquet, .csv or .jsonl in the orders contract")
    ],
    out: Annotated[Path, typer.Option(help="where the scores go: .parquet or .csv")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="column holding each order's prediction time (default: created_at)"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="processes scoring a large file (40k+ orders) side by side "
            "(default: one per core)",
        ),
    ] = None,
    point_in_time: Annotated[
        bool,
        typer.Option(
            "--point-in-time",
            help="orders the online store cannot answer as of their --as-of moment (a view's "
            "values only from after it, or no row for the order's day: a back-dated file) get "
            "their features from a point-in-time join of the offline store instead of being "
            "scored without those views (slower)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Score a file of orders with the champion, offline, through the service's own code: each
    order as of its --as-of moment (features from the online store, nothing newer than that
    moment), one row per order (order_id, as_of, p_late, expected_hours, p90_hours, risk_level,
    value_index, value_contribution, tier, degraded). Rows that break the orders contract are written to
    OUT.rejected.csv with the rules they broke; they never stop the run."""
    from features.validation import SourceContractError
    from orderlens.settings import load_settings
    from serving.batch import predict_file

    settings = load_settings()
    try:
        report = predict_file(
            settings,
            orders,
            out,
            as_of_column=as_of,
            workers=workers,
            progress=None if as_json else typer.echo,
            point_in_time=point_in_time,
        )
    except SourceContractError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(json.dumps(report.as_dict()) if as_json else report.as_text())
