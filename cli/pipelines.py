"""``orderlens flow …``: run a Prefect flow now, or register the scheduled deployments."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

flow_app = typer.Typer(
    help="Prefect flows: ingest, nlp, features, train, monitor, report and daily (the main job).",
    no_args_is_help=True,
)

FLOW_NAMES = ("ingest", "nlp", "features", "train", "monitor", "report", "daily")


@flow_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help=f"the flow: {', '.join(FLOW_NAMES)}")],
    orders: Annotated[
        int | None, typer.Option(help="daily: orders to simulate on an empty home")
    ] = None,
    smoke: Annotated[
        bool, typer.Option(help="smoke size: two spaCy epochs, a few boosting rounds")
    ] = False,
    source: Annotated[
        Path | None,
        typer.Option(help="daily, ingest: the export's folder (default: settings.ingest.source)"),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="daily, ingest: mapping YAML of that export (default: settings.ingest.mapping)"
        ),
    ] = None,
) -> None:
    """Run one flow now. With no Prefect server configured (profile local) Prefect starts a
    temporary one for the run; its state stays under <home>/prefect. With --source the daily
    flow ingests that export (through --mapping) instead of simulating a world."""
    from orderlens.settings import load_settings
    from pipelines.runtime import prefect_environment

    if name not in FLOW_NAMES:
        raise typer.BadParameter(f"unknown flow {name!r}: expected one of {', '.join(FLOW_NAMES)}")
    settings = load_settings()
    prefect_environment(settings)  # before Prefect reads its settings
    from pipelines.flows import FLOWS

    if (source or mapping) and name not in {"daily", "ingest"}:
        raise typer.BadParameter("--source and --mapping apply to the daily and ingest flows")
    kwargs: dict[str, object] = {"home": str(settings.home)}
    if name in {"daily", "ingest"}:  # absolute: the flow may run in another working directory
        kwargs |= {
            "source": str(source.absolute()) if source else None,
            "mapping": str(mapping.absolute()) if mapping else None,
        }
    if name == "daily":
        kwargs |= {"orders": orders, "smoke": smoke}
    elif name in {"nlp", "train"}:
        kwargs["smoke"] = smoke
    began = time.perf_counter()
    result = FLOWS[name](**kwargs)
    typer.echo(json.dumps(result, indent=2, default=str))
    typer.echo(f"flow {name} finished in {time.perf_counter() - began:.0f} s")


@flow_app.command("deploy")
def deploy(
    serve: Annotated[
        bool,
        typer.Option(help="serve the deployments from this process instead of a work pool"),
    ] = False,
    source: Annotated[
        Path | None,
        typer.Option(help="the export folder the daily and ingest deployments read"),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="the mapping YAML of that export")] = None,
) -> None:
    """Register the deployments with the Prefect server (production.prefect_api_url or
    PREFECT_API_URL): daily on settings.pipelines.daily_cron, monitor on monitor_cron, the others
    on demand. A worker runs them: prefect worker start --pool <settings.pipelines.work_pool>.
    With --serve this process registers and runs them itself (no pool, no worker)."""
    from orderlens.settings import load_settings
    from pipelines.deploy import register, serve_deployments
    from pipelines.runtime import prefect_environment

    settings = load_settings()
    prefect_environment(settings)
    own_data = {
        "source": str(source.absolute()) if source else None,
        "mapping": str(mapping.absolute()) if mapping else None,
    }
    if serve:
        serve_deployments(settings, **own_data)
        return
    try:
        ids = register(settings, **own_data)
    except RuntimeError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    pool = settings.pipelines.work_pool
    typer.echo(f"registered {len(ids)} deployments in work pool {pool!r}")
    typer.echo(f"run them with: prefect worker start --pool {pool}")
