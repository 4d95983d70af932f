"""``orderlens nlp …``: train, evaluate and run the ticket-text models on anyone's labels."""

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
    help="Ticket text: spaCy pipelines per language trained on your labels (and sentiment), a "
    "language-agnostic fallback, and untrained defaults (lexicon + rules) for any text.",
    no_args_is_help=True,
)


def synthetic_training_tickets(orders: int, seed: int) -> tuple[pd.DataFrame, str]:
    """Tickets of a fresh synthetic world of ``orders`` orders (the demo's labelled tickets)."""
    from simulator.world import WorldConfig, simulate_world

    world = simulate_world(WorldConfig(n_orders=orders, seed=seed, start="2025-01-01", days=365))
    return world["tickets"], f"simulate_world(n_orders={orders}, seed={seed})"


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file by its extension (CSV read with a BOM-tolerant encoding)."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() in {".csv", ".txt", ".tsv"}:
        return pd.read_csv(path, encoding="utf-8-sig", sep="\t" if path.suffix == ".tsv" else ",")
    raise typer.BadParameter(f"{path}: expected a .csv or .parquet file")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV or Parquet by the extension of ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame.to_parquet(path, index=False)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise typer.BadParameter(f"{path}: expected a .csv or .parquet output")


@nlp_app.command()
def train(
    tickets: Annotated[
        Path | None, typer.Option(help="labelled texts (CSV/Parquet); default: the lake's tickets")
    ] = None,
    text_column: Annotated[str, typer.Option(help="the column holding the text")] = "text",
    label_column: Annotated[
        str | None,
        typer.Option(help="label names, one per text or several joined by '|' (any names)"),
    ] = None,
    sentiment_column: Annotated[
        str | None,
        typer.Option(help="sentiment target: 0/1 (1 positive), -1/0/1, a 1-5 rating or words"),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(help="language of every text (else a 'language' column, else detected)"),
    ] = None,
    orders: Annotated[
        int | None, typer.Option(help="train on the tickets of a fresh synthetic world of N orders")
    ] = None,
    smoke: Annotated[
        bool, typer.Option(help="two epochs (and, without --tickets, 600 synthetic tickets)")
    ] = False,
    seed: Annotated[int, typer.Option(help="split and training seed")] = 0,
    max_epochs: Annotated[
        int | None, typer.Option(help="override training.max_epochs of nlp/config.cfg")
    ] = None,
) -> None:
    """Train one pipeline per language (and a language-agnostic one) on your labels and/or a
    sentiment column, score them on held-out texts, save them as a new version under
    <home>/nlp/ and make it current. With neither --label-column nor --sentiment-column, the
    'labels' column of the tickets contract is used."""
    from nlp.training import prepare_training_data, train_pipelines

    os.environ.setdefault("ANSI_COLORS_DISABLED", "1")
    settings = load_settings()
    if tickets is not None:
        frame, source = read_table(tickets), str(tickets)
    elif smoke or orders is not None:
        frame, source = synthetic_training_tickets(orders or 3_000, seed)
        frame = frame.head(600) if smoke else frame
    else:
        frame, source = load_tickets(settings)
    if label_column is None and sentiment_column is None:
        label_column = "labels"
    try:
        data = prepare_training_data(
            frame,
            text_column=text_column,
            label_column=label_column,
            sentiment_column=sentiment_column,
            language=language,
        )
    except ValueError as error:
        typer.echo(f"error: {source}: {error}", err=True)
        raise typer.Exit(code=2) from error
    began = time.perf_counter()
    result = train_pipelines(
        data, settings, seed=seed, smoke=smoke, max_epochs=max_epochs, data_source=source
    )
    typer.echo(
        f"trained {result.version} on {len(data.frame):,} texts "
        f"({len(result.labels)} labels{', sentiment' if data.sentiment else ''}) "
        f"in {time.perf_counter() - began:.0f} s"
    )
    for lang, metrics in result.metrics.items():
        typer.echo(f"  {lang}: {_summary(metrics)}")
    typer.echo(f"-> {result.path}")


def _summary(metrics: dict) -> str:
    parts = []
    if "macro_f1" in metrics:
        parts.append(f"held-out macro-F1 {metrics['macro_f1']:.3f} on {metrics['n']:,} texts")
    if metrics.get("sentiment_auc") is not None:
        parts.append(
            f"sentiment AUC {metrics['sentiment_auc']:.3f} on {metrics['n_sentiment']:,} texts"
        )
    return "; ".join(parts) or "nothing to score"


@nlp_app.command()
def evaluate(
    version: Annotated[str | None, typer.Option(help="pipeline version (default: current)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Re-score a saved version on its held-out texts: per-label precision/recall/F1, macro-F1
    and sentiment AUC per language pipeline (xx: on every held-out text)."""
    from nlp.evaluate import evaluate_version
    from nlp.store import version_path

    settings = load_settings()
    try:
        path = version_path(settings, version)
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    report = evaluate_version(path, pd.read_parquet(path / "heldout.parquet"))
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"version {path.name} (held-out texts)")
    for lang, metrics in report.items():
        typer.echo(f"{lang}: {_summary(metrics)}")
        for label, row in metrics.get("labels", {}).items():
            typer.echo(
                f"  {label:<24} P {row['precision']:.3f}  R {row['recall']:.3f}  "
                f"F1 {row['f1']:.3f}  n={row['support']}"
            )


@nlp_app.command()
def score(
    input: Annotated[Path, typer.Option("--input", help="texts to score (CSV or Parquet)")],
    out: Annotated[Path, typer.Option(help="where to write the scores (.csv or .parquet)")],
    text_column: Annotated[str, typer.Option(help="the column holding the text")] = "text",
    language_column: Annotated[
        str | None, typer.Option(help="column of language codes (missing ones are detected)")
    ] = None,
    language: Annotated[str | None, typer.Option(help="language of every text")] = None,
    time_column: Annotated[
        str | None, typer.Option(help="column of each text's time (the year of dates like 5月12日)")
    ] = None,
    keep: Annotated[
        list[str] | None, typer.Option(help="input column to copy into the output (repeatable)")
    ] = None,
    version: Annotated[str | None, typer.Option(help="pipeline version (default: current)")] = None,
) -> None:
    """Score any text, one output row per input row, in order: language, p_negative, sentiment,
    label_<name> per trained label, model / sentiment_model (which model answered), urgency and
    the durations (hours), amounts (currency units) and dates (ISO) found. Works in a home where
    nothing was trained: sentiment then comes from the lexicon and rules."""
    from nlp.scoring import TicketModels, score_texts

    settings = load_settings()
    frame = read_table(input)
    missing = [
        c
        for c in (text_column, language_column, time_column, *(keep or ()))
        if c and c not in frame
    ]
    if missing:
        typer.echo(f"error: {input} has no column(s) {missing}: {list(frame.columns)}", err=True)
        raise typer.Exit(code=2)
    try:
        models = TicketModels.load(settings, version)
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    languages = frame[language_column] if language_column else None
    if language:
        languages = pd.Series(language, index=frame.index)
    began = time.perf_counter()
    scored = score_texts(
        frame[text_column],
        models,
        languages=languages,
        times=frame[time_column] if time_column else None,
    )
    elapsed = time.perf_counter() - began
    if keep:
        scored = pd.concat([frame[keep], scored], axis=1)
    write_table(scored, out)
    rate = len(scored) / elapsed if elapsed > 0 else float("nan")
    answered = ", ".join(f"{m}: {n:,}" for m, n in scored["model"].value_counts().items())
    typer.echo(f"{len(scored):,} texts in {elapsed:.1f} s ({rate:,.0f}/s) [{answered}] -> {out}")


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
    """Turn the tickets into the signals table the ticket feature views read: labels,
    sentiment, urgency and quantities per ticket, and which model answered."""
    from nlp.extract import extract_signals
    from nlp.scoring import TicketModels

    settings = load_settings()
    try:
        frame, source = load_tickets(settings, tickets)
        models = TicketModels.load(settings, version)
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    began = time.perf_counter()
    signals = extract_signals(frame, models)
    elapsed = time.perf_counter() - began
    target = out or settings.signals_path
    target.parent.mkdir(parents=True, exist_ok=True)
    signals.to_parquet(target, index=False)
    rate = len(signals) / elapsed if elapsed > 0 else float("nan")
    typer.echo(
        f"{len(signals):,} tickets from {source} in {elapsed:.1f} s ({rate:,.0f}/s) -> {target}"
    )
