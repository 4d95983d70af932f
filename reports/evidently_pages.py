"""The Evidently 0.7 pages: feature drift, prediction drift, delay-model quality, value-model
quality and data quality of the source tables.

Drift is computed once, in :mod:`reports.monitoring` (the monitor flow, ``orderlens monitor`` and
the drift page use it); the feature-drift page renders the frames a monitoring pass compared,
with the same effect-size methods.

Each builder returns ``(path, description)`` or raises :class:`NotBuilt` saying why the page
cannot exist yet (no prediction log, no labels...). Evidently embeds the rows it is given, so every
frame is sampled, and a page that still comes out above the size budget is rebuilt from half the
rows until it fits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from reports.data import ReportInputs

if TYPE_CHECKING:
    from reports.monitoring.monitor import MonitorPass

MAX_BYTES = 10 * 1024 * 1024
"""No report may exceed 10 MB."""
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
DRIFT_METHODS = {
    "num_method": "wasserstein",
    "num_threshold": 0.1,
    "cat_method": "psi",
    "cat_threshold": 0.1,
}
"""Effect sizes, not p-values: Evidently's normed Wasserstein distance for numbers and PSI for
categories, at the thresholds the monitor uses (see :mod:`reports.monitoring.drift`)."""
DRIFT_PAGE_FEATURES = 40
"""The features on the Evidently drift page: those contributing most to the drift score."""


def feature_drift_page(result: MonitorPass, path: Path, rows: int) -> Path:
    """The Evidently page of a monitoring pass: the champion's features that contribute most to
    its drift score, served (current) against its training rows at the same stage mix."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    if result.drift is None or result.reference is None or result.current is None:
        raise NotBuilt(
            "the monitoring pass measured no drift (no champion reference or no traffic)"
        )
    shifts = result.drift.top(DRIFT_PAGE_FEATURES)
    numerical = [s.feature for s in shifts if s.kind == "numeric"]
    categorical = [s.feature for s in shifts if s.kind == "categorical"]
    share = sum(s.importance for s in shifts if s.drifted) / max(
        sum(s.importance for s in shifts), 1e-12
    )

    def render(n: int):
        report = Report([DataDriftPreset(drift_share=max(share, 0.5), **DRIFT_METHODS)])
        return report.run(
            _dataset(sample(result.current, n), numerical, categorical),
            _dataset(sample(result.reference, n, seed=1), numerical, categorical),
        )

    return save_within_budget(path, rows, render)


def feature_drift(result: MonitorPass | None, path: Path, rows: int) -> str:
    """The feature-drift page (see :func:`feature_drift_page`); returns its description."""
    if result is None or result.champion is None:
        raise NotBuilt("no champion model set: drift is measured on the champion's features")
    if result.drift is None:
        raise NotBuilt("; ".join(result.notes) or "no served predictions to compare yet")
    feature_drift_page(result, path, rows)
    drift = result.drift
    return (
        f"Feature drift of the champion's {min(DRIFT_PAGE_FEATURES, len(drift.shifts))} most "
        f"drift-contributing features: {drift.current_rows:,} predictions since "
        f"{result.window_start:%Y-%m-%d %H:%M} vs its training rows (importance-weighted drift "
        f"score {drift.drift_score:.2f})."
    )


PREDICTION_WINDOW_DAYS = 7
"""The prediction-drift page compares the last week of predictions with the weeks before."""


def prediction_frames(
    log: pd.DataFrame, window_days: int = PREDICTION_WINDOW_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reference, current)`` predictions by when they were made (``as_of``): the last
    ``window_days`` against everything before; when the log is shorter than two windows, its
    newer half against its older half."""
    from reports.monitoring.served import prediction_time

    ok = log[(log["status"] == "ok") & log["p_late"].notna()]
    if len(ok) < 20:
        raise NotBuilt(f"only {len(ok)} successful predictions logged (need 20)")
    ok = ok.assign(predicted_at=prediction_time(ok))
    cut = ok["predicted_at"].max() - pd.Timedelta(days=window_days)
    if ok["predicted_at"].min() > cut - pd.Timedelta(days=window_days):
        cut = ok["predicted_at"].quantile(0.5)
    return ok[ok["predicted_at"] < cut], ok[ok["predicted_at"] >= cut]


def prediction_drift(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current = prediction_frames(inputs.log)
    numerical, categorical = split_columns(reference, list(PREDICTION_COLUMNS))

    def render(n: int):
        return Report([DataDriftPreset(**DRIFT_METHODS)]).run(
            _dataset(sample(current, n), numerical, categorical),
            _dataset(sample(reference, n, seed=1), numerical, categorical),
        )

    save_within_budget(path, rows, render)
    return (
        f"Prediction drift (late risk, hours, value index, quadrants, tiers): {len(current):,} "
        f"recent predictions since {current['predicted_at'].min():%Y-%m-%d} vs {len(reference):,} before."
    )


# --- model quality once labels arrive -------------------------------------------------------
def delay_quality(inputs: ReportInputs, path: Path, rows: int) -> str:
    from evidently import BinaryClassification, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    from features.labels import delay_labels
    from reports.monitoring.served import prediction_time

    # Each order as first scored (at creation, for most): the prediction proactive actions
    # start from. Its latest one — often right before delivery — would flatter the model.
    log = inputs.log[(inputs.log["status"] == "ok") & inputs.log["p_late"].notna()]
    first = log.assign(predicted_at=prediction_time(log)).sort_values("predicted_at")
    first = first.drop_duplicates("order_id", keep="first")
    if first.empty or inputs.outcomes.empty:
        raise NotBuilt("no logged order has its delivery outcome yet")
    frame = first.merge(delay_labels(first, inputs.outcomes), on="order_id", how="inner")
    if frame.empty or frame["is_late"].nunique() < 2:
        raise NotBuilt("no logged order has its delivery outcome yet (or all have one class)")
    frame = frame.assign(is_late=frame["is_late"].astype(int))

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
        f"Delay model quality on {len(frame):,} delivered orders as first scored: late/on-time "
        f"classification (P(late) vs is_late) and expected vs realised hours late."
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
