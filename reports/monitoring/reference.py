"""The champion's reference: what it learnt from, and how well it did on orders it never saw.

Written when a model set is promoted (``settings.drift_reference_path``, one parquet file):

- ``split == "train"``: a sample of its training snapshots (every stage of an order's life):
  what drift is measured against;
- ``split == "test"``: its held-out (latest) snapshots with the champion's own ``p_late`` and the
  realised ``is_late``: the baseline of the performance checks and of the prediction shift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orderlens.settings import Settings

if TYPE_CHECKING:
    from training.registry import ModelSet

CUMULATIVE_TAG = ("monitoring", "cumulative")
"""Feast field tag (key, value) declaring a feature a cumulative count."""


def build_reference(
    training_set: pd.DataFrame, models: ModelSet, rows: int, seed: int = 0
) -> pd.DataFrame:
    """The reference of a model set from its delay training set (with ``split``).

    Args:
        training_set: the delay training set the models were fitted on (every split).
        models: the model set (scores the held-out rows).
        rows: rows kept of each part (a seeded sample).
        seed: seed of the samples.

    Returns:
        Training rows (``split == "train"``) and held-out rows (``"test"``; ``"validation"``
        rows stand in when there is no test split) with ``p_late``.
    """
    train = training_set[training_set["split"] == "train"]
    held_out = training_set[training_set["split"] == "test"]
    if held_out.empty:
        held_out = training_set[training_set["split"] == "validation"]
    parts = [
        train.sample(min(rows, len(train)), random_state=seed).assign(split="train"),
    ]
    if len(held_out):
        held_out = held_out.sample(min(rows, len(held_out)), random_state=seed)
        scored = models.predict_delay(models.delay_matrix(held_out))["p_late"]
        parts.append(held_out.assign(split="test", p_late=scored))
    return pd.concat(parts, ignore_index=True)


def load_reference(settings: Settings) -> pd.DataFrame | None:
    """The champion's reference, or None before the first promotion. A reference written before
    held-out rows were kept counts as training rows only."""
    path = settings.drift_reference_path
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if "split" not in frame or not frame["split"].isin(["train", "test"]).any():
        frame = frame.assign(split="train")
    return frame


def champion_importance(
    models: ModelSet, rows: pd.DataFrame, max_rows: int = 2_000
) -> dict[str, float]:
    """Each delay feature's mean absolute TreeSHAP contribution (log-odds) on ``rows``: how much
    the champion's risk moves with it, on average, for orders like these. Each row is explained
    by the classifier that scores it (creation or later)."""
    names = list(models.delay.spec.names)
    if rows.empty:
        return dict.fromkeys(names, 1.0)
    sample = rows.sample(min(max_rows, len(rows)), random_state=0)
    contributions = models.delay.contributions(models.delay_matrix(sample))[:, :-1]
    return dict(zip(names, np.abs(contributions).mean(axis=0).tolist(), strict=True))


def categorical_features(models: ModelSet) -> set[str]:
    """The delay features the champion treats as categories."""
    return set(models.delay.spec.categories)


def cumulative_features(settings: Settings) -> set[str]:
    """Features declared cumulative counts (Feast field tag ``monitoring: cumulative``) in the
    feature store's registry (none before the store is built)."""
    from features.store import FeatureRepo

    key, value = CUMULATIVE_TAG
    views = FeatureRepo(settings).store.list_feature_views()
    return {f.name for view in views for f in view.features if f.tags.get(key) == value}
