"""Drift between the training reference and recent scoring-time features, with Evidently 0.7.

Pure frame functions plus one call into Evidently, so the monitor flow only orchestrates. Where
the frames come from:

- **current**: the prediction log when it holds enough recent rows (what the service really
  saw), turned into features with the same transformation the feature store uses; otherwise the
  scoring-time (creation) features of the latest orders, read point-in-time from the store.
- **reference**: the features the champion was trained on (``<home>/monitoring/reference.parquet``,
  written after training) or, before any training, the creation-time features of the orders
  older than the current window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from orderlens.contracts import ORDERS
from orderlens.settings import Settings

SERVICE = "delay_v1"
"""Drift is measured on the delay model's features (the value model's are a subset)."""

NOT_COMPARED = frozenset(
    {"order_id", "customer_id", "lane_id", "carrier_day", "warehouse_day", "city_day"}
    | {"lane_day", "created_at", "promised_at", "as_of", "event_timestamp", "snapshot_stage"}
    | {"is_late", "delay_hours", "split"}
)
"""Ids, timestamps and labels: they differ between any two periods by construction."""


@dataclass
class DriftResult:
    """What one drift comparison found."""

    drift_share: float
    threshold: float
    drifted_columns: list[str]
    compared_columns: list[str]
    not_compared: dict[str, str] = field(default_factory=dict)
    current_rows: int = 0
    reference_rows: int = 0
    current_source: str = ""
    reference_source: str = ""
    html: str | None = None

    @property
    def drifted(self) -> bool:
        """The share of drifted columns reached the threshold."""
        return self.drift_share >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"drifted": self.drifted}


# --- frames --------------------------------------------------------------------------------
def features_from_prediction_log(log: pd.DataFrame) -> pd.DataFrame:
    """The order features of logged requests, computed as the feature store computes them.

    The log carries every field of the orders contract, so :func:`order_attributes` (the one
    implementation of those features) turns it into the columns the training set has.
    """
    from features.transforms import order_attributes

    # Optional contract columns (the order's origin) are present only when requests carried them.
    columns = [c.name for c in ORDERS.columns if c.required or c.name in log.columns]
    orders = log[columns].drop_duplicates("order_id", keep="last")
    return order_attributes(orders.reset_index(drop=True))


def scoring_time_features(settings: Settings, orders: pd.DataFrame) -> pd.DataFrame:
    """The features of ``orders`` as of their creation, point-in-time from the feature store
    (what the service would have read when they were placed)."""
    from features.snapshots import snapshots
    from features.store import FeatureRepo

    return FeatureRepo(settings).training_set(SERVICE, snapshots(orders, None))


def split_recent_orders(orders: pd.DataFrame, n_recent: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(older, recent)``: the latest ``n_recent`` orders by creation time, and the rest."""
    ordered = orders.sort_values(["created_at", "order_id"], kind="stable")
    n_recent = min(n_recent, max(len(ordered) // 2, 1))  # always leave a reference
    return ordered.iloc[:-n_recent], ordered.iloc[-n_recent:]


def comparable_columns(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[list[str], list[str], dict[str, str]]:
    """The feature columns both frames hold, split into numerical and categorical.

    Returns:
        ``(numerical, categorical, not_compared)`` — the last maps a column to why it was left
        out (only on one side, or empty on one side: a test on no values means nothing).
    """
    numerical: list[str] = []
    categorical: list[str] = []
    skipped: dict[str, str] = {}
    for column in sorted((set(reference) | set(current)) - NOT_COMPARED):
        if column not in reference or column not in current:
            side = "reference" if column not in reference else "current"
            skipped[column] = f"absent from {side}"
        elif reference[column].isna().all() or current[column].isna().all():
            skipped[column] = "no values on one side"
        elif pd.api.types.is_bool_dtype(reference[column]) or not pd.api.types.is_numeric_dtype(
            reference[column]
        ):
            categorical.append(column)
        else:
            numerical.append(column)
    return numerical, categorical, skipped


# --- Evidently -----------------------------------------------------------------------------
def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float,
    html_path: Path | None = None,
) -> DriftResult:
    """Run Evidently's ``DataDriftPreset`` over the comparable columns.

    Args:
        reference: training-time features.
        current: recent scoring-time features.
        threshold: share of drifted columns that counts as drift (also Evidently's
            ``drift_share``, so its own summary agrees).
        html_path: where to save the self-contained HTML report (None: not saved).

    Returns:
        The share and names of the drifted columns and what was compared.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical, categorical, skipped = comparable_columns(reference, current)
    columns = numerical + categorical
    if not columns:
        raise ValueError("reference and current frames share no feature column to compare")
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)

    def dataset(frame: pd.DataFrame) -> Dataset:
        data = frame[columns].copy()
        data[categorical] = data[categorical].astype("string").fillna("<missing>")
        return Dataset.from_pandas(data, data_definition=definition)

    report = Report([DataDriftPreset(drift_share=threshold)])
    snapshot = report.run(dataset(current), dataset(reference))
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    share, drifted = read_drift(snapshot.dict())
    return DriftResult(
        drift_share=share,
        threshold=threshold,
        drifted_columns=drifted,
        compared_columns=columns,
        not_compared=skipped,
        current_rows=len(current),
        reference_rows=len(reference),
        html=str(html_path) if html_path else None,
    )


def read_drift(snapshot: dict[str, Any]) -> tuple[float, list[str]]:
    """``(share of drifted columns, drifted column names)`` from an Evidently snapshot dict.

    Each ``ValueDrift`` metric holds the column's test value: a p-value (drift when below the
    threshold) or a distance (drift when at or above it), as Evidently itself decides.
    """
    share = None
    drifted = []
    for metric in snapshot["metrics"]:
        config = metric["config"]
        kind = config["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            share = float(metric["value"]["share"])
        elif kind == "ValueDrift":
            value, limit = float(metric["value"]), float(config["threshold"])
            is_p_value = "p_value" in str(config.get("method", ""))
            if (value < limit) if is_p_value else (value >= limit):
                drifted.append(config["column"])
    if share is None:
        raise ValueError("the Evidently snapshot has no DriftedColumnsCount metric")
    return share, sorted(drifted)
