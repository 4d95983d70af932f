"""Simple delay baselines, fitted on the same training rows as the models and scored on the same
test rows: what a model must beat to earn its place.

- ``promise_horizon``: a logistic regression on the promised horizon alone (hours from order to
  promise, and its logarithm).
- ``region_late_rate``: the historical late rate of the order's lane (carrier × destination
  region) or, without carriers, its destination region — point-in-time: only orders whose
  outcome was known when this order was placed count (an order's lateness is known at its
  promise at the latest), smoothed towards the region's and the overall rate.
- ``logistic_all``: a regularised logistic regression on every feature known at creation.

Each returns a probability per creation row of the scored frame (NaN for later snapshots).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from training.linear import LinearRisk
from training.matrix import FeatureSpec, to_matrix

PREFIX = "baseline__"
"""Baseline predictions travel as ``baseline__<name>`` columns of the stored test window, so a
model set can be re-evaluated later against the same baseline figures."""

REGION_KEYS = ("dest_region", "dest_city")
"""The destination region column (the open contract's name first)."""

SMOOTHING_ROWS = 20.0
"""m-estimate strength: a lane with 20 known outcomes is half its own rate, half its region's."""

HORIZON_FEATURES = ("promised_hours",)


def region_column(frame: pd.DataFrame) -> str | None:
    """The destination-region column of ``frame`` (None without one)."""
    return next((c for c in REGION_KEYS if c in frame and frame[c].notna().any()), None)


def creation_rows(frame: pd.DataFrame) -> np.ndarray:
    """Mask of the creation snapshots (every row when the frame has no stage column)."""
    if "snapshot_stage" not in frame:
        return np.ones(len(frame), dtype=bool)
    return (frame["snapshot_stage"] == "created").to_numpy()


def linear_on(spec: FeatureSpec, names: tuple[str, ...] | None = None, **kwargs) -> LinearRisk:
    """A :class:`LinearRisk` reading ``names`` (default: every feature) of ``spec``'s matrix."""
    chosen = [n for n in (names or spec.names) if n in spec.names]
    constraints = dict(zip(spec.names, spec.monotone_constraints(), strict=True))
    return LinearRisk(
        [spec.names.index(n) for n in chosen],
        [n in spec.categories for n in chosen],
        directions=[constraints[n] for n in chosen],
        **kwargs,
    )


def fit_linear_baselines(train: pd.DataFrame, spec: FeatureSpec) -> dict[str, LinearRisk]:
    """The logistic baselines fitted on the creation rows of ``train`` (those that can be fitted:
    the horizon one needs ``promised_hours``)."""
    rows = train[creation_rows(train)]
    x = to_matrix(rows, spec)
    y = rows["is_late"].to_numpy(np.float64)
    out = {}
    if any(n in spec.names for n in HORIZON_FEATURES):
        out["promise_horizon"] = linear_on(spec, HORIZON_FEATURES, c=1.0).fit(x, y)
    out["logistic_all"] = linear_on(spec).fit(x, y)
    return out


def region_late_rate(history: pd.DataFrame, scored: pd.DataFrame) -> np.ndarray:
    """Point-in-time smoothed late rate of each scored order's lane/region.

    Args:
        history: labelled orders (``created_at``, ``promised_at``, ``is_late``, the region and
            optionally ``carrier_id``), one row per order, from any split.
        scored: the orders to score (``created_at``, the same keys).

    Returns:
        P(late) per scored row.
    """
    region = region_column(history)
    known = history.assign(_known=history["promised_at"]).sort_values("_known")
    overall = _running_rate(known, None, scored, prior=None)
    if region is None:
        return overall
    by_region = _running_rate(known, [region], scored, prior=overall)
    if "carrier_id" not in history or history["carrier_id"].isna().all():
        return by_region
    return _running_rate(known, ["carrier_id", region], scored, prior=by_region)


def _running_rate(
    known: pd.DataFrame, keys: list[str] | None, scored: pd.DataFrame, prior: np.ndarray | None
) -> np.ndarray:
    """Late rate among ``known`` outcomes of the same key known strictly before each scored
    order's creation, shrunk towards ``prior`` (None: the plain overall rate, 0.5 prior of 1)."""
    group = ["_all"] if keys is None else keys
    events = known.assign(_all=0)[[*group, "_known", "is_late"]].copy()
    events[group] = events[group].astype(str)
    events["_n"] = events.groupby(group).cumcount() + 1.0
    events["_late"] = events.groupby(group)["is_late"].cumsum().astype(np.float64)
    queries = scored.assign(_all=0)[[*group, "created_at"]].copy()
    queries[group] = queries[group].astype(str)
    queries["_row"] = np.arange(len(queries))
    queries = queries.sort_values("created_at")
    joined = pd.merge_asof(
        queries,
        events.drop(columns="is_late").rename(columns={"_known": "created_at"}),
        on="created_at",
        by=group,
        allow_exact_matches=False,
    ).sort_values("_row")
    n = joined["_n"].fillna(0.0).to_numpy()
    late = joined["_late"].fillna(0.0).to_numpy()
    if prior is None:
        return (late + 0.5) / (n + 1.0)
    return (late + SMOOTHING_ROWS * prior) / (n + SMOOTHING_ROWS)


def baseline_predictions(
    train: pd.DataFrame,
    scored: pd.DataFrame,
    spec: FeatureSpec,
    history: pd.DataFrame,
    linear: dict[str, LinearRisk] | None = None,
) -> pd.DataFrame:
    """Every baseline's P(late) for the creation rows of ``scored`` (NaN on later snapshots).

    Args:
        train: the training rows (split ``train``) the logistic baselines are fitted on.
        scored: the rows to score (e.g. the test window).
        spec: the delay models' feature spec (the baselines read the same matrix).
        history: every labelled order once (creation rows of all splits) for the lane rate.
        linear: already fitted logistic baselines (default: fitted here on ``train``).

    Returns:
        One ``baseline__<name>`` column per baseline, on ``scored``'s index.
    """
    linear = fit_linear_baselines(train, spec) if linear is None else linear
    created = creation_rows(scored)
    out = pd.DataFrame(index=scored.index)
    rows = scored[created]
    scorers: dict[str, Callable[[], np.ndarray]] = {
        name: (lambda m=model: m.predict_proba(to_matrix(rows, spec)))
        for name, model in linear.items()
    }
    scorers["region_late_rate"] = lambda: region_late_rate(history, rows)
    for name, score in scorers.items():
        column = np.full(len(scored), np.nan)
        if len(rows):
            column[created] = score()
        out[PREFIX + name] = column
    return out
