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

    Returns:
        One row per snapshot with entity keys, ``as_of``, ``snapshot_stage``, the labels and
        every feature of the service; exactly as many rows as kept snapshots (checked).
    """
    if "outcomes" not in tables:
        raise ValueError("no outcomes in the lake: nothing to learn from yet")
    orders = tables["orders"]
    if limit is not None and limit < len(orders):
        chosen = np.random.default_rng(seed).choice(len(orders), size=limit, replace=False)
        orders = orders.iloc[np.sort(chosen)]
    entities = labelled_snapshots(service, orders, tables["outcomes"], tables.get("tracking"))
    entities = sample_later_snapshots(entities, max_rows, seed)
    return repo.training_set(service, entities)
