"""Tracking progress of an order as of each of its scans."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.validation import ROUTE_STAGE

HOUR = pd.Timedelta(hours=1)

# Where along its promise window a parcel should be at each route stage. The plan is a fixed
# share of the promise, so "hours behind plan" means the same for a 24 h and a 72 h promise.
PLANNED_SHARE_OF_PROMISE = {0: 0.0, 1: 0.15, 2: 0.25, 3: 0.45, 4: 0.7, 5: 0.85, 6: 1.0}

PROGRESS_COLUMNS = (
    "trk_stage",
    "trk_scans",
    "trk_hub_scans",
    "trk_exceptions",
    "trk_last_exception",
    "trk_hours_behind_plan",
    "trk_hours_since_scan_plan",
)


def tracking_progress(orders: pd.DataFrame, tracking: pd.DataFrame) -> pd.DataFrame:
    """Per order and scan: how far the parcel got and how it is doing against the plan.

    Args:
        orders: ``order_id``, ``created_at``, ``promised_at``.
        tracking: the tracking source.

    Returns:
        ``order_id``, ``event_timestamp`` (a microsecond after the scan) and ``trk_stage`` (0 created … 6
        delivered), ``trk_scans``, ``trk_hub_scans``, ``trk_exceptions`` (so far),
        ``trk_last_exception`` (code, ``none`` if none), ``trk_hours_behind_plan`` (scan time
        minus when the plan expected the reached stage; positive = late), and
        ``trk_hours_since_scan_plan`` (hours since the plan expected the *next* stage; positive
        = the next scan is overdue at this moment).
    """
    frame = tracking[["order_id", "event_time", "event_type", "exception_code"]].merge(
        orders[["order_id", "created_at", "promised_at"]], on="order_id", how="inner"
    )
    frame = frame.sort_values(["order_id", "event_time"], kind="stable").reset_index(drop=True)
    by_order = frame.groupby("order_id", sort=False)
    rank = frame["event_type"].map(ROUTE_STAGE).fillna(-1)
    stage = rank.groupby(frame["order_id"], sort=False).cummax().clip(lower=0).astype("int64")
    is_exception = (frame["event_type"] == "exception").astype("int64")
    last_exception = frame["exception_code"].groupby(frame["order_id"], sort=False).ffill()

    window_hours = (frame["promised_at"] - frame["created_at"]) / HOUR
    share = stage.map(PLANNED_SHARE_OF_PROMISE)
    next_share = (stage + 1).clip(upper=6).map(PLANNED_SHARE_OF_PROMISE)
    elapsed = (frame["event_time"] - frame["created_at"]) / HOUR
    out = pd.DataFrame(
        {
            "order_id": frame["order_id"],
            # Visible just after the scan: an order scored at its creation has no scans yet,
            # exactly as the online store holds nothing for a brand-new order.
            "event_timestamp": frame["event_time"] + pd.Timedelta(microseconds=1),
            "trk_stage": stage,
            "trk_scans": by_order.cumcount() + 1,
            "trk_hub_scans": (frame["event_type"] == "arrived_hub")
            .astype("int64")
            .groupby(frame["order_id"], sort=False)
            .cumsum(),
            "trk_exceptions": is_exception.groupby(frame["order_id"], sort=False).cumsum(),
            "trk_last_exception": last_exception.fillna("none").astype(str),
            "trk_hours_behind_plan": elapsed - share * window_hours,
            "trk_hours_since_scan_plan": elapsed - next_share * window_hours,
        }
    )
    # Two scans in the same instant: the later row (in route order) is the state that holds.
    out = out.drop_duplicates(["order_id", "event_timestamp"], keep="last").reset_index(drop=True)
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    out["trk_stage"] = out["trk_stage"].astype(np.int64)
    return out
