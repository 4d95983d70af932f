"""The ``orderlens`` command line: every stage and the main job, with ``--help`` on each."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from orderlens.settings import Settings, load_settings

app = typer.Typer(
    name="orderlens",
    help="Delivery-delay risk and order value: simulate, ingest, train, serve, report.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _before_every_command() -> None:
    # The entry point: the console shows our lines, not the libraries' deprecation notes.
    from orderlens.console import quiet_third_party_warnings

    quiet_third_party_warnings()


def _settings() -> Settings:
    return load_settings()


@app.command()
def simulate(
    orders: Annotated[int | None, typer.Option(help="number of orders to simulate")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (same seed, same world)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: <home>/sources)")
    ] = None,
    days: Annotated[int | None, typer.Option(help="length of the simulated period")] = None,
    start: Annotated[str | None, typer.Option(help="first order day, YYYY-MM-DD")] = None,
) -> None:
    """Write a synthetic world (orders, weather, forecasts, tracking, tickets, outcomes and the
    oracle) as parquet files in the source contract."""
    from simulator.world import WorldConfig, simulate_world, write_world

    settings = _settings()
    sim = settings.simulation
    config = WorldConfig(
        n_orders=orders or sim.orders,
        seed=sim.seed if seed is None else seed,
        start=start or sim.start,
        days=days or sim.days,
    )
    out_dir = out or settings.sources_dir
    began = time.perf_counter()
    world = simulate_world(config, progress=True)
    paths = write_world(world, out_dir)
    elapsed = time.perf_counter() - began
    for table, path in paths.items():
        typer.echo(f"{table:>10}: {len(world[table]):>10,} rows -> {path}")
    typer.echo(f"simulated {config.n_orders:,} orders in {elapsed:.1f} s -> {out_dir}")


@app.command()
def ingest(
    source: Annotated[
        Path | None,
        typer.Option(
            help="folder of the export's files (default: settings.ingest.source, else "
            "<home>/sources)"
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="mapping YAML for an export whose files, columns or values differ from the "
            "contract (docs/data-contract.md; default: settings.ingest.mapping)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Validate source files against the contract and add them to the parquet lake.

    Reads CSV, Parquet or JSON Lines: <table>.csv / .parquet / .jsonl (or a <table>/ folder) in
    the contract's columns, or whatever a --mapping names. Rows that break a rule go to a
    quarantine file with the rule's name; ingesting the same files twice adds nothing. Exit
    codes: 0 done, 2 the sources or mapping cannot be ingested (nothing written), 75 another
    ingest is running (try again)."""
    from features.ingest import IngestAlreadyRunning, SourceContractError, ingest_sources

    settings = _settings()
    source_dir = source or settings.ingest.source or settings.sources_dir
    try:
        summary = ingest_sources(
            source_dir, settings, mapping=mapping or settings.ingest.mapping, progress=not as_json
        )
    except SourceContractError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    except IngestAlreadyRunning as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=75) from error
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        typer.echo(summary.as_table())


@app.command()
def demo(
    orders: Annotated[int | None, typer.Option(help="orders to simulate on an empty home")] = None,
    port: Annotated[int, typer.Option(help="port the service answers on")] = 3000,
) -> None:
    """The main job on the embedded default: the daily flow (simulate on an empty home, ingest,
    NLP, features, train + promotion gate, monitor, reports), then the prediction service left
    answering on localhost; prints where the reports are and a sample request."""
    from cli.demo import run_main_job

    run_main_job(_settings(), orders, port)


@app.command()
def stop() -> None:
    """Stop the prediction service that `orderlens demo` left running."""
    from cli.demo import stop_service

    typer.echo("stopped" if stop_service(_settings()) else "no service of this home was running")


from cli.features import features_app  # noqa: E402  (sub-apps register after the core commands)

app.add_typer(features_app, name="features")

from cli.nlp import nlp_app  # noqa: E402

app.add_typer(nlp_app, name="nlp")

from cli.training import evaluate, promote, train  # noqa: E402

app.command()(train)
app.command()(evaluate)
app.command()(promote)

from cli.serving import predict, serve  # noqa: E402

app.command()(serve)
app.command()(predict)

from cli.pipelines import flow_app  # noqa: E402

app.add_typer(flow_app, name="flow")

from cli.reports import report  # noqa: E402

app.command()(report)

from cli.monitoring import monitor  # noqa: E402

app.command()(monitor)
from cli.help_text import reflow_help  # noqa: E402  (after every command is registered)

reflow_help(app)

if __name__ == "__main__":
    app()
