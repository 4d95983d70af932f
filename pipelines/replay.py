"""Served traffic, replayed: the orders of a past period scored as the service scored them then.

Upstream systems call the service when an order is placed and again as it moves (each carrier
scan). A replay of ``[start, end)`` takes every such moment in the period from the lake — each
order's creation, and one second after each scan before delivery — and for each:

1. reads the features **as of that moment** from the offline store (point-in-time; the online
   store only holds today's values, and serving a past order today's values would leak its
   future),
2. scores them with the service's own :class:`serving.scoring.Scorer` on the champion,
3. claims the chosen actions in the service's action ledger at that moment (so a re-scored
   order does not fire the same action twice), and
4. appends request and answer to the prediction log, stamped with that moment.

Outcomes are not touched: the monitor counts an order's outcome only from the moment it would
have been known (delivered, or past its promise). ``make demo`` replays the last weeks of the
simulated year this way so every page has served traffic to show; the monitor tests replay one
day at a time.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from orderlens.settings import Settings
from pipelines.runtime import run_logger

SERVICE = "delay_v1"
"""The feature service the delay model is trained on (the value model's is a subset)."""
LONGEST_TRANSIT = pd.Timedelta(days=45)
"""Orders created this long before the period may still be scanned in it."""
REQUEST_ORDERS = 200
"""Orders per replayed request: an order system's batch (the health page reads its latency)."""


@dataclass(frozen=True)
class ReplaySummary:
    """What one replay did."""

    start: str
    end: str
    predictions: int
    orders: int
    requests: int
    actions_fired: int
    actions_suppressed: int
    model_set: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def scoring_moments(
    orders: pd.DataFrame,
    tracking: pd.DataFrame | None,
    outcomes: pd.DataFrame | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """The moments orders were scored in ``[start, end)``: each creation, and one second after
    each scan before delivery (the snapshots of :func:`features.snapshots.snapshots`).

    Returns:
        Entity rows with ``as_of`` = ``event_timestamp`` and ``snapshot_stage``, by time.
    """
    from features.snapshots import snapshots

    live = orders[(orders["created_at"] < end) & (orders["created_at"] >= start - LONGEST_TRANSIT)]
    delivered = None
    if outcomes is not None and len(outcomes):
        delivered = outcomes.set_index("order_id")["delivered_at"]
    rows = snapshots(live, tracking, delivered)
    return rows[(rows["as_of"] >= start) & (rows["as_of"] < end)].reset_index(drop=True)


def request_rounds(moments: pd.DataFrame, size: int = REQUEST_ORDERS) -> list[np.ndarray]:
    """Row positions of ``moments`` grouped into requests, in time order: one day at a time,
    each order at most once per request (the service refuses repeated ids), at most ``size``."""
    day = moments["as_of"].dt.floor("D").to_numpy()
    repeat = moments.groupby([day, moments["order_id"].to_numpy()]).cumcount().to_numpy()
    rounds = []
    for key in sorted(set(zip(day.tolist(), repeat.tolist(), strict=True))):
        rows = np.flatnonzero((day == key[0]) & (repeat == key[1]))
        rounds += [rows[i : i + size] for i in range(0, len(rows), size)]
    return rounds


def replay(settings: Settings, start: datetime, end: datetime) -> ReplaySummary:
    """Score every moment of ``[start, end)`` through the service's scoring and log it.

    Args:
        settings: the home (lake, feature store, champion, ledger, prediction log).
        start, end: the period (UTC); each order is scored when it was placed and after each
            scan in the period.

    Returns:
        Counts of what was scored, logged and fired.

    Raises:
        FileNotFoundError: no champion model set.
    """
    from features.store import FeatureRepo, load_sources
    from serving.ledger import open_ledger
    from serving.policy import load_policy
    from serving.prediction_log import PredictionLog, record_request
    from serving.scoring import Scorer
    from training.registry import load_champion

    began = time.perf_counter()
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    tables = load_sources(settings)
    orders = tables["orders"]
    moments = scoring_moments(
        orders, tables.get("tracking"), tables.get("outcomes"), start_ts, end_ts
    )
    scorer = Scorer(
        load_champion(settings),
        load_policy(settings.serving.policy_file),
        explain_all_up_to=settings.serving.explain_all_up_to,
    )
    features = FeatureRepo(settings).training_set(SERVICE, moments) if len(moments) else moments
    by_id = orders.set_index("order_id")
    fired = suppressed = requests = 0
    ledger = open_ledger(settings)
    # The service's own step (serving-guard): the request's actions and its log entry in one
    # ledger transaction; the log is drained into parquet when the replay ends.
    log = PredictionLog.from_settings(settings, ledger)
    try:
        for rows in request_rounds(features):
            batch = features.iloc[rows].reset_index(drop=True)
            request = by_id.loc[batch["order_id"]].reset_index().assign(as_of=batch["as_of"])
            began_request = time.perf_counter()
            result = scorer.score(frame_columns(request), offline_features(batch))
            moment = batch["as_of"].max().to_pydatetime()
            record_request(
                ledger,
                result.predictions,
                result.actions,
                request_id=f"replay-{uuid.uuid4().hex}",
                received_at=moment,
                orders=request_records(request),
                model_versions=scorer.model_versions,
                latency_ms=(time.perf_counter() - began_request) * 1000.0,
                scores=result.log_scores,
            )
            statuses = [a["status"] for p in result.predictions for a in p["actions"]]
            fired += statuses.count("fired")
            suppressed += statuses.count("suppressed")
            requests += 1
    finally:
        log.close()
        ledger.close()
    return ReplaySummary(
        start=start_ts.isoformat(),
        end=end_ts.isoformat(),
        predictions=len(features),
        orders=int(features["order_id"].nunique()) if len(features) else 0,
        requests=requests,
        actions_fired=fired,
        actions_suppressed=suppressed,
        model_set=scorer.version,
        seconds=round(time.perf_counter() - began, 1),
    )


def offline_features(batch: pd.DataFrame) -> Any:
    """Point-in-time features of a batch in the shape of an online read
    (:class:`features.online.OnlineFeatures`): numbers as float arrays, text as object arrays
    with None; nothing is stale or from after ``as_of`` (the join saw only the past)."""
    from features.online import OnlineFeatures

    values: dict[str, np.ndarray] = {}
    for name in batch.columns:
        column = batch[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            values[name] = column.to_numpy(np.float64, na_value=np.nan)
        elif not pd.api.types.is_datetime64_any_dtype(column):
            values[name] = column.astype(object).where(column.notna(), None).to_numpy()
    return OnlineFeatures(values=values, ages={}, unused={})


def frame_columns(request: pd.DataFrame) -> dict[str, Any]:
    """The request's columns as the service builds them (:func:`serving.scoring.frame_columns`)."""
    from serving.scoring import frame_columns as columns_of

    return columns_of(request)


def request_records(request: pd.DataFrame) -> list[dict[str, Any]]:
    """The request's orders as the prediction log records them (missing values as None)."""
    records = request.to_dict(orient="records")
    for record in records:
        for name, value in record.items():
            if value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
                record[name] = None
    return records


@task(task_run_name="replay-last-{days}-days", cache_policy=NO_CACHE)
def replay_task(settings: Settings, days: int) -> dict[str, Any]:
    """Replay the last ``days`` days of the lake's orders as served traffic (see :func:`replay`):
    the period ends at the end of the day of the newest order."""
    from features.lake import read_lake

    created = read_lake(settings, "orders", columns=["created_at"])["created_at"]
    end = created.max().floor("D") + pd.Timedelta(days=1)
    summary = replay(settings, (end - pd.Timedelta(days=days)).to_pydatetime(), end.to_pydatetime())
    run_logger().info(
        "replayed %d predictions of %d orders (%s .. %s) in %.0f s: %d actions fired, %d "
        "suppressed by the ledger",
        summary.predictions,
        summary.orders,
        summary.start,
        summary.end,
        summary.seconds,
        summary.actions_fired,
        summary.actions_suppressed,
    )
    return summary.as_dict()
