"""``orderlens features …``: build the feature views, materialize them, export training sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

features_app = typer.Typer(
    help="The Feast feature store: build views from the lake, materialize, training sets.",
    no_args_is_help=True,
)


@features_app.command("build")
def build() -> None:
    """Compute every feature view from the lake (views whose sources are absent are skipped and
    named) and apply the definitions and the services delay_v1 / value_v1 to the registry."""
    from features.store import FeatureRepo
    from orderlens.settings import load_settings

    report = FeatureRepo(load_settings()).build()
    typer.echo(report.as_text())


@features_app.command("materialize")
def materialize() -> None:
    """Load the newest feature values into the online store (incremental after the first run)."""
    from features.store import FeatureRepo
    from orderlens.settings import load_settings

    result = FeatureRepo(load_settings()).materialize()
    typer.echo(
        f"materialized {len(result['views'])} views up to {result['end']} "
        f"in {result['seconds']:.1f} s"
    )


@features_app.command("training-set")
def training_set(
    service: Annotated[
        str, typer.Option(help="feature service: delay_v1 or value_v1")
    ] = "delay_v1",
    out: Annotated[Path, typer.Option(help="parquet file to write")] = Path("training_set.parquet"),
    limit: Annotated[int | None, typer.Option(help="at most this many orders (sampled)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the order sample")] = 0,
) -> None:
    """Write a point-in-time training set: every labelled order at creation and after each scan
    (delay) or at creation (value), with its labels, as parquet."""
    from features.store import FeatureRepo, load_sources
    from features.training_sets import build_training_set
    from orderlens.settings import load_settings

    settings = load_settings()
    frame = build_training_set(
        FeatureRepo(settings), load_sources(settings), service, limit=limit, seed=seed
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    summary = {"service": service, "rows": len(frame), "orders": int(frame["order_id"].nunique())}
    typer.echo(json.dumps(summary))
