"""Training sets: labelled snapshots joined point-in-time with a feature service."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshots import labelled_snapshots, sample_later_snapshots
from features.store import FeatureRepo, Tables


def build_training_set(
    repo: FeatureRepo,
    tables: Tables,
    service: str,
    *,
    limit: int | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    joined: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The training set of ``service``: labelled snapshots with point-in-time features.

    Args:
        repo: the built feature repository.
        tables: the source tables (orders and outcomes required; tracking for delay snapshots).
        service: ``delay_v1`` or ``value_v1`` (or later versions).
        limit: sample at most this many orders.
        max_rows: at most this many snapshots: every creation snapshot of the sampled orders
            and a random share of the later ones (see :func:`sample_later_snapshots`).
        seed: seed of both samples.
        joined: a training set already joined for a service whose features include this one's
            (delay_v1 for value_v1) on the same orders: when it has every row's moment, its
            features are reused instead of a second point-in-time join (identical values: each
            view joins on its own keys and time).

    Returns:
        One row per snapshot with entity keys, ``as_of``, ``snapshot_stage``, the labels and
        every feature of the service; exactly as many rows as kept snapshots (checked).
    """
    if "outcomes" not in tables:
        raise ValueError("no outcomes in the lake: nothing to learn from yet")
    orders = history = tables["orders"]
    if limit is not None and limit < len(orders):
        chosen = np.random.default_rng(seed).choice(len(orders), size=limit, replace=False)
        orders = orders.iloc[np.sort(chosen)]
    entities = labelled_snapshots(
        service, orders, tables["outcomes"], tables.get("tracking"), history=history
    )
    entities = sample_later_snapshots(entities, max_rows, seed)
    if joined is not None:
        reused = reuse_joined(repo, service, entities, joined)
        if reused is not None:
            return reused
    return repo.training_set(service, entities)


MOMENT = ["order_id", "event_timestamp"]


def reuse_joined(
    repo: FeatureRepo, service: str, entities: pd.DataFrame, joined: pd.DataFrame
) -> pd.DataFrame | None:
    """``entities`` with ``service``'s features taken from ``joined`` (matched by order and
    moment), or None when ``joined`` lacks one of those features or moments."""
    names = [
        feature.name
        for projection in repo.feature_service(service).feature_view_projections
        for feature in projection.features
    ]
    if not set(names) <= set(joined.columns):
        return None
    features = joined[[*MOMENT, *names]].drop_duplicates(MOMENT)
    frame = entities.merge(features, on=MOMENT, how="inner", validate="one_to_one")
    return frame if len(frame) == len(entities) else None
