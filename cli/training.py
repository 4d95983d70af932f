"""``orderlens train`` / ``evaluate`` / ``promote``: plain functions registered on the main app
(``app.command()(train)``) so ``cli/main.py`` needs one line per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _prepare_fresh_world(settings, orders: int, seed: int | None) -> None:
    """Simulate ``orders`` orders into ``<home>/sources``, ingest them and build the features."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from simulator.world import WorldConfig, simulate_world, write_world

    sim = settings.simulation
    config = WorldConfig(
        n_orders=orders, seed=sim.seed if seed is None else seed, start=sim.start, days=sim.days
    )
    write_world(simulate_world(config), settings.sources_dir)
    ingest_sources(settings.sources_dir, settings, progress=False)
    typer.echo(FeatureRepo(settings).build().as_text())


def train(
    orders: Annotated[
        int | None,
        typer.Option(help="simulate a fresh world of this many orders first (default: the lake)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the fresh world")] = None,
    limit: Annotated[int | None, typer.Option(help="use at most this many orders")] = None,
    oracle: Annotated[
        Path | None, typer.Option(help="oracle parquet (default: <home>/sources/oracle.parquet)")
    ] = None,
    smoke: Annotated[bool, typer.Option(help="few boosting rounds (tests, quick checks)")] = False,
    promote_after: Annotated[
        bool, typer.Option("--promote", help="promote if not worse than the champion")
    ] = False,
) -> None:
    """Train the models (delay: classifiers at creation and after a scan, calibrator, hours,
    P90; 19 value dimensions) on
    the feature store's training sets, evaluate them against the oracle on the test window and
    register them as a candidate model set in the BentoML store."""
    from orderlens.settings import load_settings
    from training.data import load_training_data
    from training.train import train_model_set

    settings = load_settings()
    if orders is not None:
        _prepare_fresh_world(settings, orders, seed)
    data = load_training_data(settings, oracle_path=oracle, limit=limit)
    typer.echo(
        f"training on {data.value.shape[0]:,} orders ({data.delay.shape[0]:,} delay snapshots); "
        f"window {data.window()}"
    )
    result = train_model_set(settings, data, smoke=smoke, log=typer.echo)
    summary = result.report["summary"]
    typer.echo(json.dumps(summary, indent=1, default=float))
    typer.echo(f"registered candidate model set {result.version} in {result.seconds:.0f} s")
    if promote_after:
        promote(version=result.version)


def evaluate(
    version: Annotated[
        str | None, typer.Option(help="model set (default: the champion, else the candidate)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
) -> None:
    """Evaluate a model set on its test window: delay AUC/PR-AUC/Brier/ECE/hours MAE/P90
    coverage (overall and by stage) and each value dimension's R² or AUC, beside the oracle's."""
    from orderlens.settings import load_settings
    from training import registry
    from training.train import evaluate_version

    settings = load_settings()
    version = version or registry.champion_version(settings) or registry.candidate_version(settings)
    if version is None:
        typer.echo("error: no model set yet: run `orderlens train`", err=True)
        raise typer.Exit(code=2)
    report = evaluate_version(settings, version)
    if as_json:
        typer.echo(json.dumps(report, allow_nan=False))
        return
    delay = report["delay"]
    typer.echo(f"model set {version}")
    typer.echo(
        f"delay  AUC {_fmt(delay['auc'])} (oracle {_fmt(delay.get('oracle_auc'))})  "
        f"ECE {_fmt(delay['ece'])}  Brier {_fmt(delay['brier'])}  base rate "
        f"{_fmt(delay.get('base_rate'))}  n {delay['n']}  hours MAE {_fmt(delay['hours_mae'])}"
        f"  P90 coverage {_fmt(delay['hours_p90_coverage'])}"
    )
    served = delay.get("served", {})
    if served:
        typer.echo(f"served at creation: {served.get('model')} ({served.get('why')})")
    for name, row in delay.get("baselines", {}).items():
        typer.echo(
            f"  baseline {name:>18}: AUC {_fmt(row['auc'])}  PR-AUC {_fmt(row['pr_auc'])}"
            f"  Brier {_fmt(row['brier'])}  ECE {_fmt(row['ece'])}"
        )
    if "baseline_gate" in delay:
        typer.echo(f"beats the best baseline: {delay['baseline_gate']}")
    for name, row in report["value"].items():
        typer.echo(
            f"{name:>24} {row['metric']:>3} {_fmt(row['score'])} oracle {_fmt(row.get('oracle'))}"
            f" ratio {_fmt(row.get('ratio'))}"
        )
    typer.echo(json.dumps(report["summary"], default=float))


def promote(
    version: Annotated[
        str | None, typer.Option(help="model set to promote (default: the latest candidate)")
    ] = None,
) -> None:
    """Make a candidate the champion if it is not worse than the current champion on the
    candidate's test window (both re-evaluated on the same rows); prints the comparison."""
    from orderlens.settings import load_settings
    from training.train import promote as promote_set

    comparison = promote_set(load_settings(), version)
    typer.echo(json.dumps(comparison, indent=1, default=float))
    if not comparison["promote"]:
        typer.echo(f"not promoted: {comparison.get('reason', 'worse than the champion')}")
        raise typer.Exit(code=1)
    typer.echo(f"champion is now {comparison['version']}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
