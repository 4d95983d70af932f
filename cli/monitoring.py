"""``orderlens monitor``: one monitoring pass on the home (the Prefect ``monitor`` flow)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def monitor(
    as_json: Annotated[
        bool, typer.Option("--json", help="last line: the pass's record as one JSON object")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="the moment judged, ISO time (default: the newest served prediction)"),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="retrain (then the promotion gate) when the verdict asks")
    ] = True,
    html: Annotated[bool, typer.Option(help="write the Evidently drift page of the pass")] = True,
) -> None:
    """Judge the latest served predictions: drift (importance-weighted effect sizes), estimated
    and realised performance, and a verdict (alarm, retrain) with its reasons; retrains on
    evidence outside the cool-down. The record is kept as <home>/monitoring/monitor-<as_of>.json."""
    from orderlens.settings import load_settings
    from pipelines.runtime import prefect_environment

    settings = load_settings()
    prefect_environment(settings)  # before Prefect reads its settings
    from pipelines.monitor import monitor_flow

    record = monitor_flow(home=str(settings.home), retrain=retrain, as_of=as_of, html=html)
    if as_json:
        headline = ("alarm", "retrain", "drift_score", "estimated_auc", "realised_auc", "reasons")
        ordered = {k: record[k] for k in headline} | {
            k: v for k, v in record.items() if k not in headline
        }
        typer.echo(json.dumps(ordered, default=str))
        return
    typer.echo(summary(record))


def summary(record: dict) -> str:
    """The record in a few lines for a terminal."""

    def figure(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    window, recent = record["window"], record["recent"]
    lines = [
        f"monitor at {record['as_of']}: {'ALARM' if record['alarm'] else 'no alarm'}, "
        f"decision {record.get('decision', '-')}",
        f"  estimated AUC {figure(record['estimated_auc'])} "
        f"(band {figure(window['estimated_auc_low'])}-{figure(window['estimated_auc_high'])}) "
        f"on {window['predictions']} predictions since {window['start']}",
        f"  realised AUC {figure(record['realised_auc'])} on {recent['labelled']} predictions "
        "with outcomes",
        f"  drift score {figure(record['drift_score'])}, predicted-risk shift "
        f"{figure(record['prediction_shift'])}",
        *[f"  - {reason}" for reason in record["reasons"]],
        *[f"  (watch) {note}" for note in record["watch"]],
        f"  record: {record.get('record')}",
    ]
    return "\n".join(lines)
