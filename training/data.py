"""Training data: the point-in-time training sets of both services, the oracle, time splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from orderlens.settings import Settings

SPLITS = ("train", "validation", "test")


@dataclass
class TrainingData:
    """Both training sets with their split and the oracle (None for data without one).

    Attributes:
        delay: delay_v1 rows (every snapshot), with a ``split`` column.
        value: value_v1 rows (creation snapshots), with a ``split`` column.
        oracle: per ``order_id``: ``p_late``, ``expected_delay_hours`` and each dimension.
        skipped_views: feature views absent from the store (their features are not used).
        nlp_version: the NLP pipeline version behind the ticket-signal features (None: none).
    """

    delay: pd.DataFrame
    value: pd.DataFrame
    oracle: pd.DataFrame | None
    skipped_views: dict[str, str]
    nlp_version: str | None = None

    def window(self) -> dict[str, str]:
        """The created_at range of each split (the data window recorded with the models)."""
        out = {}
        for split in SPLITS:
            created = self.value.loc[self.value["split"] == split, "created_at"]
            out[split] = f"{created.min().isoformat()} .. {created.max().isoformat()}"
        return out


def time_split(
    created_at: pd.Series, train_share: float = 0.7, validation_share: float = 0.1
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The two cut times: orders created before the first train, before the second validate,
    the rest are the test window (each order, with all its snapshots, in one split)."""
    ordered = created_at.sort_values(ignore_index=True)
    n = len(ordered)
    first = ordered.iloc[min(int(n * train_share), n - 1)]
    second = ordered.iloc[min(int(n * (train_share + validation_share)), n - 1)]
    return first, second


def assign_split(frame: pd.DataFrame, cuts: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """``frame`` with a ``split`` column by its ``created_at`` and the cut times."""
    created = frame["created_at"]
    split = np.where(created < cuts[0], "train", np.where(created < cuts[1], "validation", "test"))
    return frame.assign(split=split)


def read_oracle(path: Path) -> pd.DataFrame | None:
    """The simulator's oracle table, or None when the data has none (your own data)."""
    return pd.read_parquet(path) if path.exists() else None


def load_training_data(
    settings: Settings,
    *,
    oracle_path: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> TrainingData:
    """Build both training sets from the feature store and split them by time.

    Args:
        settings: the run-time settings (lake, feature repo, training shares).
        oracle_path: the oracle parquet (default ``<home>/sources/oracle.parquet``).
        limit: use at most this many orders (sampled; default ``settings.training.max_orders``).
        seed: seed of that sample and of the delay snapshots kept under
            ``settings.training.delay_max_rows``.
    """
    from features.store import FeatureRepo, load_sources, signals_version
    from features.training_sets import build_training_set

    repo = FeatureRepo(settings)
    skipped = repo.manifest().get("skipped", {})
    tables = load_sources(settings)
    training = settings.training
    limit = training.max_orders if limit is None else limit
    delay = build_training_set(
        repo, tables, "delay_v1", limit=limit, max_rows=training.delay_max_rows, seed=seed
    )
    # value_v1's features are a subset of delay_v1's and its rows are the creation snapshots
    # (all kept by the delay sample): no second point-in-time join.
    value = build_training_set(repo, tables, "value_v1", limit=limit, seed=seed, joined=delay)
    cuts = time_split(value["created_at"], training.train_share, training.validation_share)
    oracle = read_oracle(oracle_path or settings.sources_dir / "oracle.parquet")
    return TrainingData(
        assign_split(delay, cuts),
        assign_split(value, cuts),
        oracle,
        skipped,
        nlp_version=signals_version(settings),
    )
