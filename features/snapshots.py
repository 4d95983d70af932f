"""Entity frames for point-in-time training sets: each order at several moments of its life."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import delay_labels, value_targets
from features.transforms.keys import add_day_keys
from features.transforms.performance import lane_key

# The moments an order is scored at: when it is placed, then right after each of these scans.
SCAN_STAGES = ("picked", "departed_origin", "arrived_hub", "arrived_dest_hub", "out_for_delivery")
SCORED_AFTER_SCAN = pd.Timedelta(seconds=1)

ENTITY_COLUMNS = ("order_id", "customer_id", "carrier_id", "warehouse_id", "dest_region")


def entity_rows(orders: pd.DataFrame) -> pd.DataFrame:
    """The entity keys of each order (what a point-in-time join or an online read needs)."""
    rows = orders[[*ENTITY_COLUMNS, "created_at", "promised_at"]].copy()
    rows["lane_id"] = lane_key(rows["carrier_id"], rows["dest_region"])
    return rows


def with_day_keys(rows: pd.DataFrame) -> pd.DataFrame:
    """Entity rows with ``as_of`` get the day keys of the time-series views."""
    return add_day_keys(rows, "as_of")


def snapshots(
    orders: pd.DataFrame,
    tracking: pd.DataFrame | None = None,
    delivered_at: pd.Series | None = None,
    stages: tuple[str, ...] = SCAN_STAGES,
) -> pd.DataFrame:
    """One row per order and moment: at creation, and one second after each scan in ``stages``
    that happened before delivery.

    Args:
        orders: the orders source.
        tracking: the tracking source (None: creation snapshots only).
        delivered_at: per ``order_id`` (index), when it was delivered; scans after it are skipped.
        stages: the scan types that make a snapshot.

    Returns:
        Entity keys, ``created_at``, ``promised_at``, ``as_of`` = ``event_timestamp`` and
        ``snapshot_stage`` (``created`` or the scan type).
    """
    base = entity_rows(orders)
    frames = [base.assign(as_of=base["created_at"], snapshot_stage="created")]
    if tracking is not None and len(tracking):
        scans = tracking.loc[
            tracking["event_type"].isin(stages), ["order_id", "event_time", "event_type"]
        ]
        if delivered_at is not None:
            scans = scans[scans["event_time"] < scans["order_id"].map(delivered_at)]
        scans = scans.merge(base, on="order_id", how="inner")
        frames.append(
            scans.assign(
                as_of=scans["event_time"] + SCORED_AFTER_SCAN, snapshot_stage=scans["event_type"]
            ).drop(columns=["event_time", "event_type"])
        )
    rows = pd.concat(frames, ignore_index=True)
    rows["as_of"] = rows["as_of"].astype("datetime64[us, UTC]")
    rows["event_timestamp"] = rows["as_of"]
    rows = with_day_keys(rows)
    return rows.sort_values(["event_timestamp", "order_id"], kind="stable").reset_index(drop=True)


def labelled_snapshots(
    service: str,
    orders: pd.DataFrame,
    outcomes: pd.DataFrame,
    tracking: pd.DataFrame | None = None,
    *,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The entity frame of a training set, with its labels as extra columns.

    ``delay_*`` services get every snapshot with ``is_late`` and ``delay_hours``; ``value_*``
    services get the creation snapshot with the 19 realised value targets (the value an order
    creates is decided mostly by what is known when it is placed). ``history`` is every order
    of the shop (default ``orders``): value targets derived from a customer's later orders see
    them even when ``orders`` is a sample.
    """
    delivered = outcomes.set_index("order_id")["delivered_at"]
    if service.startswith("delay"):  # an order never delivered (cancelled) has no delay label
        outcomes = outcomes[outcomes["delivered_at"].notna()]
        delivered = delivered.dropna()
    labelled = orders[orders["order_id"].isin(delivered.index)]
    if service.startswith("delay"):
        rows = snapshots(labelled, tracking, delivered)
        labels = delay_labels(labelled, outcomes)
    elif service.startswith("value"):
        rows = snapshots(labelled, None)
        labels = value_targets(labelled, outcomes, history=history, tracking=tracking)
    else:
        raise ValueError(f"unknown feature service {service!r}: expected delay_* or value_*")
    return rows.merge(labels, on="order_id", how="left")


def sample_later_snapshots(rows: pd.DataFrame, max_rows: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``max_rows`` snapshots: every creation snapshot and a seeded random share of the
    later ones.

    An order's ≈6 snapshots are largely redundant for learning, while each costs a row in the
    point-in-time join (so sample the entity frame, before the join). Creation snapshots are all
    kept: the value models and the headline delay metric are at creation. Later snapshots are
    drawn uniformly, so each stage keeps its share of rows (the per-stage evaluation and
    calibration still see every stage).

    Args:
        rows: an entity frame from :func:`snapshots` (``snapshot_stage`` column).
        max_rows: the row budget (None, or at least as many rows as there are: all kept).
        seed: seed of the draw.

    Returns:
        The kept rows, in their original order.
    """
    if max_rows is None or len(rows) <= max_rows:
        return rows
    created = (rows["snapshot_stage"] == "created").to_numpy()
    later = np.flatnonzero(~created)
    room = min(max(max_rows - int(created.sum()), 0), len(later))
    keep = created.copy()
    keep[np.random.default_rng(seed).choice(later, size=room, replace=False)] = True
    return rows[keep].reset_index(drop=True)
