"""The Evidently 0.7 pages: feature drift, prediction drift, delay-model quality, value-model
quality and data quality of the source tables.

Each builder returns ``(path, description)`` or raises :class:`NotBuilt` saying why the page
cannot exist yet (no prediction log, no labels...). Evidently embeds the rows it is given, so every
frame is sampled, and a page that still comes out above the size budget is rebuilt from half the
rows until it fits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from reports.data import ReportInputs

MAX_BYTES = 10 * 1024 * 1024
"""No report may exceed 10 MB."""
NOT_FEATURES = frozenset(
    {"order_id", "customer_id", "lane_id", "carrier_day", "warehouse_day", "city_day", "lane_day"}
    | {"created_at", "promised_at", "as_of", "event_timestamp", "snapshot_stage"}
    | {"is_late", "delay_hours"}
)
"""Ids, timestamps and labels differ between any two periods by construction: never compared."""
PREDICTION_COLUMNS = (
    "p_late", "expected_hours", "p90_hours", "value_index", *(f"quadrant_{q}" for q in QUADRANTS),
    "risk_level", "tier",
)  # fmt: skip
SOURCE_TABLES = ("orders", "weather", "forecasts", "tracking", "tickets", "outcomes")


class NotBuilt(Exception):
    """A page cannot be built from the data at hand; the message says why (shown on the index)."""


def sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows, drawn at random but reproducibly, in their original order."""
    if len(frame) <= rows:
        return frame
    return frame.sample(rows, random_state=seed).sort_index()


def split_columns(frame: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """``(numerical, categorical)``: booleans and strings are categories."""
    numerical, categorical = [], []
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            categorical.append(column)
        else:
            numerical.append(column)
    return numerical, categorical


def _dataset(frame: pd.DataFrame, numerical: list[str], categorical: list[str], **tasks):
    from evidently import DataDefinition, Dataset

    data = frame[[*numerical, *categorical, *tasks.pop("extra", [])]].copy()
    # Evidently wants categories as strings and a visible missing value, not NaN.
    data[categorical] = data[categorical].astype("string").fillna("<missing>")
    definition = DataDefinition(
        numerical_columns=numerical, categorical_columns=categorical, **tasks
    )
    return Dataset.from_pandas(data, data_definition=definition)


def save_within_budget(
    path: Path, rows: int, render: Callable[[int], object], max_bytes: int = MAX_BYTES
) -> Path:
    """Render a snapshot from ``rows`` sampled rows and save it; halve the rows while the HTML
    exceeds ``max_bytes``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with warnings.catch_warnings():
            # Evidently's metrics on small or constant slices warn (R² of one sample, 0/0 in
            # MAPE); the page shows those values as undefined, the log needs no wall of text.
            warnings.simplefilter("ignore")
            snapshot = render(rows)
        snapshot.save_html(str(path))
        if path.stat().st_size <= max_bytes or rows <= 100:
            return path
        rows //= 2


# --- drift ----------------------------------------------------------------------------------
def feature_frames(inputs: ReportInputs) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``(reference, current, where the reference came from)``: the order features of logged
    requests against the training reference, or against the orders placed before the log began
    when no model has been trained yet. Both sides come from the one feature transformation."""
    from features.transforms import order_attributes
    from orderlens.contracts import ORDERS

    log = inputs.log
    if log.empty:
        raise NotBuilt("the prediction log is empty: no served requests to compare")
    columns = [c.name for c in ORDERS.columns if c.required or c.name in log.columns]
    requested = log[columns].drop_duplicates("order_id", keep="last")
    current = order_attributes(requested.reset_index(drop=True))
    recorded = inputs.settings.drift_reference_path  # what the champion was trained on
    if recorded.is_file():
        return pd.read_parquet(recorded), current, f"training reference ({recorded.name})"
    orders = inputs.orders
    older = orders[orders["created_at"] < log["created_at"].min()]
    if older.empty:
        raise NotBuilt("no training reference and no orders older than the prediction log")
    reference = order_attributes(older.reset_index(drop=True))
    return reference, current, f"{len(older):,} orders placed before the first logged request"


def feature_drift(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current, source = feature_frames(inputs)
    columns = sorted((set(reference) & set(current)) - NOT_FEATURES)
    columns = [c for c in columns if reference[c].notna().any() and current[c].notna().any()]
    numerical, categorical = split_columns(reference, columns)

    def render(n: int):
        report = Report(
            [DataDriftPreset(drift_share=inputs.settings.monitoring.drift_share_threshold)]
        )
        return report.run(
            _dataset(sample(current, n), numerical, categorical),
            _dataset(sample(reference, n, seed=1), numerical, categorical),
        )

    save_within_budget(path, rows, render)
    return (
        f"Feature drift of {len(columns)} order features: {len(current):,} served orders "
        f"vs {source}."
    )


def prediction_frames(log: pd.DataFrame, window_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reference, current)`` predictions: the last ``window_days`` against everything before;
    when the log is shorter than two windows, its newer half against its older half."""
    ok = log[(log["status"] == "ok") & log["p_late"].notna()]
    if len(ok) < 20:
        raise NotBuilt(f"only {len(ok)} successful predictions logged (need 20)")
    cut = ok["logged_at"].max() - pd.Timedelta(days=window_days)
    if ok["logged_at"].min() > cut - pd.Timedelta(days=window_days):
        cut = ok["logged_at"].quantile(0.5)
    return ok[ok["logged_at"] < cut], ok[ok["logged_at"] >= cut]


def prediction_drift(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current = prediction_frames(inputs.log, inputs.settings.monitoring.window_days)
    numerical, categorical = split_columns(reference, list(PREDICTION_COLUMNS))

    def render(n: int):
        return Report([DataDriftPreset()]).run(
            _dataset(sample(current, n), numerical, categorical),
            _dataset(sample(reference, n, seed=1), numerical, categorical),
        )

    save_within_budget(path, rows, render)
    return (
        f"Prediction drift (late risk, hours, value index, quadrants, tiers): {len(current):,} "
        f"recent predictions since {current['logged_at'].min():%Y-%m-%d} vs {len(reference):,} before."
    )


# --- model quality once labels arrive -------------------------------------------------------
def delay_quality(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import BinaryClassification, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    labelled = inputs.labelled
    if labelled.empty or labelled["is_late"].nunique() < 2:
        raise NotBuilt("no logged order has its delivery outcome yet (or all have one class)")
    frame = labelled.assign(is_late=labelled["is_late"].astype(int))

    def render(n: int):
        data = _dataset(
            sample(frame, n), ["p_late", "expected_hours", "delay_hours"], [],
            extra=["is_late"],
            classification=[BinaryClassification(target="is_late", prediction_probas="p_late", pos_label=1)],
            regression=[Regression(name="hours", target="delay_hours", prediction="expected_hours")],
        )  # fmt: skip
        return Report([ClassificationPreset(), RegressionPreset(regression_name="hours")]).run(data)

    save_within_budget(path, rows, render)
    return (
        f"Delay model quality on {len(frame):,} delivered orders: late/on-time classification "
        f"(P(late) vs is_late) and expected vs realised hours late."
    )


def value_quality(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import Regression, Report
    from evidently.presets import RegressionPreset

    labelled = inputs.labelled
    # Each dimension is graded on the orders whose outcome it needs has arrived (reviews, say,
    # come for only some orders); Evidently drops a task's missing targets itself.
    known = {
        d.name: int(labelled[f"score_{d.name}"].notna().sum()) if not labelled.empty else 0
        for d in DIMENSIONS
    }
    dims = [name for name, n in known.items() if n >= 20]
    if not dims:
        raise NotBuilt("no logged order has realised value outcomes yet")
    frame = labelled.dropna(subset=[f"score_{d}" for d in dims], how="all")
    columns = [c for d in dims for c in (f"dim_{d}", f"score_{d}")]

    def render(n: int):
        tasks = [Regression(name=d, target=f"score_{d}", prediction=f"dim_{d}") for d in dims]
        data = _dataset(sample(frame, n), columns, [], regression=tasks)
        return Report([RegressionPreset(regression_name=d) for d in dims]).run(data)

    save_within_budget(path, rows, render)
    return (
        f"Value model quality: predicted vs realised 0–100 score of {len(dims)} dimensions on "
        f"up to {len(frame):,} orders with outcomes (fewest: {min(known[d] for d in dims):,})."
    )


# --- data quality of the sources ------------------------------------------------------------
def data_quality(
    inputs: ReportInputs, table: str, frame: pd.DataFrame, path: Path, rows: int
) -> str:
    from evidently import Report
    from evidently.presets import DataSummaryPreset

    if frame.empty:
        raise NotBuilt(f"the lake has no {table} rows")
    # Free text and row ids (nearly one value per row) say nothing as distributions and would
    # swell the page; they are counted, not charted.
    skipped = [
        c for c in frame.columns
        if c == "text" or (frame[c].dtype == object and frame[c].nunique() > 0.5 * len(frame))
    ]  # fmt: skip
    timestamps = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    columns = [c for c in frame.columns if c not in skipped and c not in timestamps]
    numerical, categorical = split_columns(frame, columns)

    def render(n: int):
        from evidently import DataDefinition, Dataset

        data = sample(frame, n)[[*numerical, *categorical, *timestamps]].copy()
        data[categorical] = data[categorical].astype("string").fillna("<missing>")
        for column in timestamps:  # Evidently's datetime handling wants naive timestamps
            data[column] = data[column].dt.tz_convert("UTC").dt.tz_localize(None)
        definition = DataDefinition(
            numerical_columns=numerical,
            categorical_columns=categorical,
            datetime_columns=timestamps,
        )
        return Report([DataSummaryPreset()]).run(
            Dataset.from_pandas(data, data_definition=definition)
        )

    save_within_budget(path, rows, render)
    note = f"; not charted: {', '.join(skipped)}" if skipped else ""
    return f"Data quality of the {table} table ({len(frame):,} rows in the lake){note}."
