"""``orderlens nlp …``: train, evaluate and run the ticket-signal pipelines."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.lake import load_tickets
from orderlens.settings import load_settings

nlp_app = typer.Typer(
    help="Ticket signals: a spaCy pipeline per language (intents, entities, urgency, sentiment).",
    no_args_is_help=True,
)


def synthetic_training_tickets(orders: int, seed: int) -> tuple[pd.DataFrame, str]:
    """Tickets of a fresh synthetic world of ``orders`` orders (or, while the world simulator is
    not available, the stand-alone ticket generator with a comparable number of tickets)."""
    try:
        from simulator.world import WorldConfig, simulate_world
    except ImportError:
        from simulator.ticket_text import synthetic_tickets

        return synthetic_tickets(max(200, orders), seed=seed), f"synthetic_tickets(n={orders})"
    world = simulate_world(WorldConfig(n_orders=orders, seed=seed, start="2025-01-01", days=365))
    return world["tickets"], f"simulate_world(n_orders={orders}, seed={seed})"


@nlp_app.command()
def train(
    tickets: Annotated[Path | None, typer.Option(help="labelled tickets (parquet/CSV)")] = None,
    orders: Annotated[
        int | None, typer.Option(help="train on the tickets of a fresh synthetic world of N orders")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="a few hundred tickets, two epochs")] = False,
    seed: Annotated[int, typer.Option(help="split and training seed")] = 0,
    max_epochs: Annotated[
        int | None, typer.Option(help="override training.max_epochs of nlp/config.cfg")
    ] = None,
) -> None:
    """Train the English and Chinese pipelines, score them on held-out templates and vocabulary,
    save them as a new version under <home>/nlp/ and make it current."""
    from nlp.training import train_pipelines

    os.environ.setdefault("ANSI_COLORS_DISABLED", "1")
    settings = load_settings()
    if smoke:
        frame, source = synthetic_training_tickets(orders or 600, seed)
        frame = frame.head(600)
    elif orders is not None:
        frame, source = synthetic_training_tickets(orders, seed)
    else:
        frame, source = load_tickets(settings, tickets)
    if "labels" not in frame or frame["labels"].isna().all():
        typer.echo(f"error: tickets from {source} carry no labels: nothing to train on", err=True)
        raise typer.Exit(code=2)
    began = time.perf_counter()
    result = train_pipelines(
        frame, settings, seed=seed, smoke=smoke, max_epochs=max_epochs, data_source=source
    )
    typer.echo(
        f"trained {result.version} on {len(frame):,} tickets in {time.perf_counter() - began:.0f} s"
    )
    for lang, metrics in result.metrics.items():
        typer.echo(
            f"  {lang}: held-out macro-F1 {metrics['macro_f1']:.3f} on {metrics['n']:,} tickets"
        )
    typer.echo(f"-> {result.path}")


@nlp_app.command()
def evaluate(
    version: Annotated[str | None, typer.Option(help="pipeline version (default: current)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Re-score a saved version on its held-out tickets: per-intent precision/recall/F1 and
    macro-F1 per language."""
    from nlp.evaluate import evaluate_pipeline
    from nlp.store import load_pipelines, version_path

    settings = load_settings()
    try:
        name, pipelines = load_pipelines(settings, version)
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    heldout = pd.read_parquet(version_path(settings, name) / "heldout.parquet")
    report = {
        lang: evaluate_pipeline(pipeline, heldout[heldout["language"] == lang])
        for lang, pipeline in pipelines.items()
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"version {name} (held-out templates and product words)")
    for lang, metrics in report.items():
        typer.echo(f"{lang}: macro-F1 {metrics['macro_f1']:.3f} (n={metrics['n']:,})")
        for label, row in metrics["labels"].items():
            typer.echo(
                f"  {label:<24} P {row['precision']:.3f}  R {row['recall']:.3f}  "
                f"F1 {row['f1']:.3f}  n={row['support']}"
            )


@nlp_app.command()
def extract(
    tickets: Annotated[
        Path | None, typer.Option(help="tickets (parquet/CSV); default: the lake")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output parquet (default: <home>/nlp/signals.parquet)")
    ] = None,
    version: Annotated[str | None, typer.Option(help="pipeline version (default: current)")] = None,
) -> None:
    """Turn tickets into a signals table: intents, entities, urgency, sentiment per ticket."""
    from nlp.extract import extract_signals
    from nlp.store import load_pipelines

    settings = load_settings()
    try:
        frame, source = load_tickets(settings, tickets)
        name, pipelines = load_pipelines(settings, version)
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    began = time.perf_counter()
    signals = extract_signals(frame, pipelines, version=name)
    elapsed = time.perf_counter() - began
    target = out or settings.signals_path
    target.parent.mkdir(parents=True, exist_ok=True)
    signals.to_parquet(target, index=False)
    rate = len(signals) / elapsed if elapsed > 0 else float("nan")
    typer.echo(
        f"{len(signals):,} tickets from {source} in {elapsed:.1f} s ({rate:,.0f}/s) -> {target}"
    )
