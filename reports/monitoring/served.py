"""What the service served, as the monitor reads it: logged predictions, the outcomes known at a
moment, and the features each prediction was made from.

Times: a prediction happened at its ``as_of`` (the moment the caller scored the order; the
service defaults it to the request time), so replayed traffic and live traffic are read alike.
An order's label counts from a day after its promise (see :func:`with_outcomes`): delivered in
time, or late. Nothing known only later leaks into a verdict made at a moment.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from orderlens.settings import Settings

SERVICE = "delay_v1"
SEGMENT_COLUMNS: dict[str, str] = {
    "carrier_id": "carrier",
    "region": "region",
    "channel": "channel",
    "stage": "order stage",
}
"""Columns performance and drift are broken down by, with the words a manager reads. Columns a
shop's data does not have (or leaves empty) are skipped."""


def prediction_time(log: pd.DataFrame) -> pd.Series:
    """When each logged prediction was made: its ``as_of``, else when it was logged."""
    return log["as_of"].fillna(log["logged_at"])


def served_predictions(
    settings: Settings, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Successful logged predictions made in ``[start, end)``, oldest first, with
    ``predicted_at``, ``region``, ``stage`` (``created`` or ``in_transit``) and ``day``.

    Args:
        settings: locates the prediction log.
        start, end: the period (None: unbounded).
    """
    from orderlens.records import read_prediction_log
    from reports.data import regions

    # The log is partitioned by the day it was written; a prediction is a little older.
    first = (start - timedelta(days=2)).date() if start is not None else None
    last = (end + timedelta(days=1)).date() if end is not None else None
    log = read_prediction_log(settings, start=first, end=last)
    log = log[(log["status"] == "ok") & log["p_late"].notna()].copy()
    log["predicted_at"] = prediction_time(log)
    if start is not None:
        log = log[log["predicted_at"] >= start]
    if end is not None:
        log = log[log["predicted_at"] < end]
    log = log.sort_values("predicted_at", kind="stable").reset_index(drop=True)
    # Segments a shop's data may not have (the contract's optional columns) are left empty.
    has_region = len(log) and "dest_region" in log and log["dest_region"].notna().any()
    log["region"] = regions(log["dest_region"]).to_numpy() if has_region else None
    log["day"] = log["predicted_at"].dt.floor("D")
    return log


def with_outcomes(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    as_of: pd.Timestamp,
    grace: timedelta = timedelta(hours=24),
) -> pd.DataFrame:
    """``predictions`` with ``late`` (1 late, 0 on time, NaN not known at ``as_of``) and
    ``known_at`` (when the label became known; NaT when not known at ``as_of``).

    A label counts once the order's promise is ``grace`` in the past: by then it was delivered
    in time (its outcome row says so) or it was not (its row says later, says "not delivered",
    or has not come); a cancelled order (``status``) has no label. Counting on-time deliveries as they happen, before the promise, would fill
    the newest days with the easy orders first (delivered early, or already hopeless) and
    flatter the realised figures; ``grace`` lets a lagging outcomes feed catch up. With no
    outcomes at all nothing is labelled.

    Args:
        predictions: rows with ``order_id`` and ``promised_at``.
        outcomes: the outcomes source (``order_id``, ``delivered_at``; may be empty).
        as_of: the moment of the verdict.
        grace: how long after a promise an outcome may still arrive.
    """
    if outcomes.empty or "order_id" not in outcomes:
        nothing = pd.Series(pd.NaT, index=predictions.index, dtype="datetime64[us, UTC]")
        return predictions.assign(late=np.nan, known_at=nothing)
    rows = outcomes.drop_duplicates("order_id", keep="last").set_index("order_id")
    delivered_at = predictions["order_id"].map(rows["delivered_at"])
    promised = predictions["promised_at"]
    late = (delivered_at.isna() | (delivered_at > promised)).astype(float)
    known_at = promised + grace
    known = known_at <= as_of
    if "status" in rows:  # a cancelled order had no delivery to be late for
        status = predictions["order_id"].map(rows["status"]).astype("string").str.lower()
        known &= ~status.str.contains("cancel", na=False).to_numpy()
    return predictions.assign(late=late.where(known), known_at=known_at.where(known))


def order_stage(features: pd.DataFrame) -> pd.Series:
    """``created`` (no carrier scan when scored) or ``in_transit``, from ``trk_stage``."""
    if "trk_stage" not in features:
        return pd.Series("created", index=features.index)
    return np.where(features["trk_stage"].isna(), "created", "in_transit")


def scoring_features(settings: Settings, predictions: pd.DataFrame) -> pd.DataFrame:
    """The features each logged prediction was made from: point-in-time from the offline store
    at its ``predicted_at`` (what the online store held then), with the order's own features
    computed from the request, as the service does (request fields win).

    Returns:
        One row per prediction, in ``predictions``' order: ``order_id``, ``predicted_at`` and
        every feature of the delay service.
    """
    from features.snapshots import entity_rows, with_day_keys
    from features.store import FeatureRepo
    from features.transforms import order_attributes
    from orderlens.contracts import ORDERS

    rows = entity_rows(predictions).assign(
        as_of=predictions["predicted_at"].to_numpy(), position=np.arange(len(predictions))
    )
    rows["event_timestamp"] = rows["as_of"]
    joined = FeatureRepo(settings).training_set(SERVICE, with_day_keys(rows))
    joined = joined.sort_values("position").reset_index(drop=True)
    columns = [c.name for c in ORDERS.columns if c.required or c.name in predictions.columns]
    # With the shop's promotion calendar, as the service computed them (not the default one).
    requested = order_attributes(
        predictions[columns].reset_index(drop=True), settings.business.promotions
    )
    for name in requested.columns:
        if name in joined.columns and name not in ("order_id", "customer_id"):
            joined[name] = requested[name].to_numpy()
    return joined.drop(columns="position").assign(
        predicted_at=predictions["predicted_at"].to_numpy()
    )
