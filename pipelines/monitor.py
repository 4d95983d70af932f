"""The ``monitor`` flow: recent scoring-time features vs the training reference, with Evidently;
when the share of drifted columns reaches ``settings.monitoring.drift_share_threshold``, retrain
and run the promotion gate, and record why.

Every run leaves ``<home>/monitoring/drift-<stamp>.html`` (the Evidently report) and
``drift-<stamp>.json`` (the decision and its reasons), plus a markdown artifact in Prefect.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from orderlens.settings import Settings
from pipelines.data import RESILIENT
from pipelines.drift import DriftResult
from pipelines.runtime import flow_settings, run_logger, run_name

"""Beside the drift records: the features the champion was trained on (sampled)."""


@task(**RESILIENT)
def current_frame_task(settings: Settings) -> tuple[pd.DataFrame, str, pd.Timestamp]:
    """The recent scoring-time features: the prediction log when it holds enough rows in the
    window, else the creation-time features of the latest orders from the feature store.

    Returns:
        ``(features, where they came from, the moment the current window starts)``.
    """
    from features import lake
    from orderlens.records import read_prediction_log
    from pipelines.drift import (
        features_from_prediction_log,
        scoring_time_features,
        split_recent_orders,
    )

    monitoring = settings.monitoring
    since = date.today() - timedelta(days=monitoring.window_days)
    log = read_prediction_log(settings, start=since)
    if len(log) >= monitoring.min_log_rows:
        start = pd.Timestamp(log["logged_at"].min())
        source = f"prediction log since {since} ({len(log)} predictions)"
        return features_from_prediction_log(log), source, start
    orders = lake.read_lake(settings, "orders")
    if orders.empty:
        raise ValueError("no prediction log and no orders in the lake: nothing to monitor")
    _, recent = split_recent_orders(orders, monitoring.recent_orders)
    source = (
        f"scoring-time features of the latest {len(recent)} orders "
        f"(prediction log: {len(log)} rows since {since}, fewer than {monitoring.min_log_rows})"
    )
    return scoring_time_features(settings, recent), source, recent["created_at"].min()


@task(**RESILIENT)
def reference_frame_task(settings: Settings, before: pd.Timestamp) -> tuple[pd.DataFrame, str]:
    """The training reference: what the champion was trained on, if recorded; else the
    creation-time features of the orders created before ``before`` (sampled).

    Returns:
        ``(features, where they came from)``.
    """
    from features import lake
    from pipelines.drift import scoring_time_features

    rows = settings.monitoring.reference_rows
    recorded = settings.drift_reference_path
    if recorded.is_file():
        frame = pd.read_parquet(recorded)
        return frame.sample(min(rows, len(frame)), random_state=0), f"training reference {recorded}"
    orders = lake.read_lake(settings, "orders")
    older = orders[orders["created_at"] < before]
    if older.empty:
        raise ValueError(f"no orders before {before} to use as the reference")
    older = older.sample(min(rows, len(older)), random_state=0)
    source = (
        f"creation-time features of {len(older)} orders before {before} (no training reference)"
    )
    return scoring_time_features(settings, older), source


@task(cache_policy=NO_CACHE)  # frames in: hashing them for a cache key costs more than the work
def drift_task(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings, stamp: str
) -> DriftResult:
    """Compare the frames with Evidently and save the HTML report under ``<home>/monitoring``."""
    from pipelines.drift import compare

    result = compare(
        reference,
        current,
        threshold=settings.monitoring.drift_share_threshold,
        html_path=settings.monitoring_dir / f"drift-{stamp}.html",
    )
    run_logger().info(
        "drift share %.2f (threshold %.2f) over %d columns; drifted: %s",
        result.drift_share,
        result.threshold,
        len(result.compared_columns),
        ", ".join(result.drifted_columns) or "none",
    )
    return result


@task(**RESILIENT)
def record_task(settings: Settings, stamp: str, record: dict[str, Any]) -> str:
    """Write the decision and its reasons as ``<home>/monitoring/drift-<stamp>.json``."""
    path = settings.monitoring_dir / f"drift-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str))
    return str(path)


def _decide(result: DriftResult, settings: Settings, retrain: bool | None) -> tuple[bool, str]:
    """Whether to retrain, and why — in words a reader of the record understands."""
    share = f"{result.drift_share:.0%} of {len(result.compared_columns)} feature columns drifted"
    if not result.drifted:
        return False, f"{share}, below the {result.threshold:.0%} threshold"
    wanted = settings.monitoring.retrain_on_drift if retrain is None else retrain
    if not wanted:
        return False, f"{share} (threshold {result.threshold:.0%}) but retraining is turned off"
    return True, f"{share} (threshold {result.threshold:.0%}): " + ", ".join(
        result.drifted_columns[:10]
    )


@flow(name="monitor", flow_run_name=run_name("monitor"))
def monitor_flow(
    home: str | None = None, retrain: bool | None = None, smoke: bool = False
) -> dict[str, Any]:
    """Measure drift and, past the threshold, retrain and run the promotion gate.

    Args:
        home: run-time root (default: settings).
        retrain: force (True) or forbid (False) a retrain on drift; None follows
            ``settings.monitoring.retrain_on_drift``.
        smoke: retrain at smoke size (tests, demos).

    Returns:
        The record written to ``<home>/monitoring/drift-<stamp>.json``: the drift result, the
        decision, its reason and, when a retrain ran, its outcome.
    """
    from pipelines.train import missing_training, train_flow

    settings = flow_settings(home)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    current, current_source, since = current_frame_task(settings)
    reference, reference_source = reference_frame_task(settings, since)
    result = drift_task(reference, current, settings, stamp)
    result.current_source, result.reference_source = current_source, reference_source
    should_retrain, reason = _decide(result, settings, retrain)
    record: dict[str, Any] = {
        "run_at": stamp,
        **result.as_dict(),
        "decision": "retrain" if should_retrain else "none",
        "reason": reason,
    }
    why_not = missing_training() if should_retrain else None
    if why_not:
        record["decision"] = "retrain-unavailable"
        record["retrain"] = {"skipped": why_not}
        run_logger().warning("drift calls for a retrain, but %s", why_not)
    elif should_retrain:
        record["retrain"] = train_flow(
            home=str(settings.home), smoke=smoke, reason=f"drift: {reason}"
        )
    record["record"] = record_task(settings, stamp, record)
    create_markdown_artifact(key="drift-monitor", markdown=_markdown(record))
    return record


def _markdown(record: dict[str, Any]) -> str:
    drifted = ", ".join(f"`{c}`" for c in record["drifted_columns"]) or "none"
    retrain = record.get("retrain")
    return "\n".join(
        [
            f"# Drift monitor {record['run_at']}",
            f"**Decision: {record['decision']}** — {record['reason']}",
            "",
            "| | |",
            "|---|---|",
            f"| drift share | {record['drift_share']:.2f} (threshold {record['threshold']:.2f}) |",
            f"| current | {record['current_source']} ({record['current_rows']} rows) |",
            f"| reference | {record['reference_source']} ({record['reference_rows']} rows) |",
            f"| drifted columns | {drifted} |",
            f"| report | {record['html']} |",
            f"| retrain | {json.dumps(retrain, default=str) if retrain else '-'} |",
        ]
    )
