"""Value models: one LightGBM model per dimension, and the scores built on their predictions —
0-100 per dimension (direction-aware percentile against the training reference), four quadrant
scores, a weighted value index and a tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from orderlens.dimensions import BY_NAME, DIMENSIONS, QUADRANTS
from orderlens.settings import TrainingSettings
from training import boosting
from training.matrix import FeatureSpec, fit_feature_spec, to_matrix

QUANTILES = np.linspace(0.0, 1.0, 1001)
"""Reference distributions are kept as 1,001 quantiles: 0.1-point resolution, tiny to store."""


def percentile(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Where each value falls in a reference given by its quantiles, in 0-100."""
    # Ties in the reference (e.g. many zero predictions) map to the middle of their run.
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    return 100.0 * (lo + hi) / (2.0 * len(reference))


SCALED_DIMENSIONS: dict[str, str] = {
    "net_revenue": "net_order_value",
    "gross_margin": "net_order_value",
    "partner_share": "net_order_value",
    "carbon_kg": "route_km",
}
"""Heavy-tailed dimensions modelled per unit of a feature, then multiplied back: trees cannot
extrapolate. On 20k orders (test R², plain → scaled, oracle): net revenue 0.66 → 0.98 (0.98;
net order value alone explains 0.98), gross margin 0.33 → 0.58 (0.56), partner share
0.76 → 0.84 (0.91), carbon per route km 0.41 → 0.56 (0.98). Fulfilment cost and service attach
do not scale with the order's value (per unit of it they got far worse) and stay plain."""


class ScaledBooster:
    """A booster of ``target / scale`` that answers in the target's units, like a plain booster.

    ``predict`` multiplies by the row's scale feature (at least 1; a missing one counts as the
    training median), ``pred_contrib`` multiplies each row's contributions and bias by it — still
    exact and additive (they sum to the prediction), so reasons and model cards need no special
    case.
    """

    def __init__(self, booster: lgb.Booster, *, index: int, typical: float) -> None:
        self.booster = booster
        self.index = index
        self.typical = typical

    def predict(self, matrix: np.ndarray, **kwargs: Any) -> np.ndarray:
        """As :meth:`lightgbm.Booster.predict`, in the target's units."""
        out = self.booster.predict(matrix, **kwargs)
        scale = row_scale(matrix, self.index, self.typical)
        return out * (scale[:, None] if out.ndim == 2 else scale)

    def as_dict(self) -> dict[str, float]:
        """What the registry stores beside the booster to rebuild this wrapper."""
        return {"index": self.index, "typical": self.typical}

    def __getattr__(self, name: str) -> Any:  # num_trees(), feature_name(), … of the booster
        return getattr(self.booster, name)


def row_scale(matrix: np.ndarray, index: int, typical: float) -> np.ndarray:
    """The multiplier of each row: column ``index``, missing → ``typical``, at least 1."""
    values = matrix[:, index]
    return np.maximum(np.where(np.isnan(values), typical, values), 1.0)


@dataclass
class ValueModels:
    """The 19 dimension models and the reference distributions that turn them into scores.

    Attributes:
        spec: the model matrix's columns and categories (no tracking features).
        models: dimension name → booster (binary dimensions: probability; the
            :data:`SCALED_DIMENSIONS` wrapped in :class:`ScaledBooster`).
        reference: dimension name → quantiles of the training predictions.
        index_reference: quantiles of the training value index (for tiers).
        weights: dimension name → value-index weight.
        tier_cutoffs: tier → lowest index percentile (0-1), best tier first.
    """

    spec: FeatureSpec
    models: dict[str, lgb.Booster | ScaledBooster]
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    index_reference: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: dict[str, float] = field(default_factory=dict)
    tier_cutoffs: dict[str, float] = field(default_factory=dict)

    def predict_raw(self, matrix: np.ndarray) -> pd.DataFrame:
        """Each dimension's predicted value (expected realised value / probability)."""
        return pd.DataFrame({name: model.predict(matrix) for name, model in self.models.items()})

    def dimension_scores(self, raw: pd.DataFrame) -> pd.DataFrame:
        """0-100 per dimension: percentile in the training reference, reversed where lower is
        better, so 100 always means "more value"."""
        scores = {}
        for name in raw.columns:
            pct = percentile(raw[name].to_numpy(), self.reference[name])
            scores[name] = pct if BY_NAME[name].higher_is_better else 100.0 - pct
        return pd.DataFrame(scores, index=raw.index)

    def index(self, scores: pd.DataFrame) -> np.ndarray:
        """The weighted value index (0-100) of dimension scores."""
        weights = np.array([self.weights.get(name, 1.0) for name in scores.columns])
        return scores.to_numpy() @ weights / weights.sum()

    def tiers(self, index: np.ndarray) -> np.ndarray:
        """The tier of each index value by its percentile among training orders."""
        pct = percentile(index, self.index_reference) / 100.0
        tier = np.full(len(index), "standard", dtype=object)
        for name, cut in sorted(self.tier_cutoffs.items(), key=lambda kv: kv[1]):
            tier[pct >= cut] = name
        return tier

    def predict(self, matrix: np.ndarray) -> dict[str, Any]:
        """Everything the service returns about value, per row.

        Returns:
            ``raw`` (DataFrame, per dimension), ``scores`` (DataFrame, 0-100 per dimension),
            ``quadrants`` (DataFrame, 0-100 per quadrant), ``index`` (array) and ``tier``.
        """
        arrays = self.predict_arrays(matrix)
        names = arrays["names"]
        return {
            "raw": pd.DataFrame(arrays["raw"], columns=names),
            "scores": pd.DataFrame(arrays["scores"], columns=names),
            "quadrants": pd.DataFrame(arrays["quadrants"], columns=list(QUADRANTS)),
            "index": arrays["index"],
            "tier": arrays["tier"],
        }

    def predict_arrays(self, matrix: np.ndarray) -> dict[str, Any]:
        """:meth:`predict` as numpy arrays (the serving hot path: building the three frames cost
        more than the models themselves on a one-order request).

        Returns:
            ``names`` (the dimensions, in column order), ``raw`` and ``scores`` (rows ×
            dimensions), ``quadrants`` (rows × :data:`QUADRANTS`), ``index`` and ``tier``.
        """
        names = list(self.models)
        raw = np.empty((len(matrix), len(names)))
        for j, name in enumerate(names):
            raw[:, j] = self.models[name].predict(matrix)
        return self.score_raw(names, raw)

    def score_raw(self, names: list[str], raw: np.ndarray) -> dict[str, Any]:
        """:meth:`predict_arrays` from predictions already made (``raw``: rows × ``names``):
        the serving hot path predicts with compiled trees, and takes ``on_time_delivery`` from
        the delay model. A dimension without a reference distribution of its own is a
        probability and scores ``100 × raw``."""
        scores = np.empty_like(raw)
        for j, name in enumerate(names):
            reference = self.reference.get(name)
            pct = 100.0 * raw[:, j] if reference is None else percentile(raw[:, j], reference)
            scores[:, j] = pct if BY_NAME[name].higher_is_better else 100.0 - pct
        position = {name: j for j, name in enumerate(names)}
        quadrants = np.full((len(raw), len(QUADRANTS)), 50.0)  # a quadrant with no model: neutral
        for k, q in enumerate(QUADRANTS):
            members = [
                position[d.name] for d in DIMENSIONS if d.quadrant == q and d.name in position
            ]
            if members:
                quadrants[:, k] = scores[:, members].mean(axis=1)
        weights = np.array([self.weights.get(name, 1.0) for name in names])
        index = scores @ weights / weights.sum()
        return {
            "names": names,
            "raw": raw,
            "scores": scores,
            "quadrants": quadrants,
            "index": index,
            "tier": self.tiers(index),
        }


def train_value(
    frame: pd.DataFrame,
    training: TrainingSettings,
    *,
    rounds: int | None = None,
    skipped_views: tuple[str, ...] = (),
    log: Any = print,
) -> ValueModels:
    """Fit one model per dimension on a value training set with a ``split`` column.

    Dimensions whose realised target is absent (all missing) are skipped and said so.
    """
    spec = fit_feature_spec(frame[frame["split"] == "train"], skipped_views=skipped_views)
    parts = {s: frame[frame["split"] == s] for s in ("train", "validation")}
    x = {s: to_matrix(part, spec) for s, part in parts.items()}
    rounds = rounds or training.max_rounds
    models: dict[str, lgb.Booster | ScaledBooster] = {}
    # Every dimension learns from the same rows: bin them once (dataset settings do not depend
    # on the objective).
    binned = boosting.bin_matrices(
        boosting.base_params(training, "regression"), spec, x["train"], x["validation"]
    )
    for dim in DIMENSIONS:
        y = {s: part[dim.name].to_numpy(np.float64) for s, part in parts.items()}
        scaled = SCALED_DIMENSIONS.get(dim.name) in spec.names
        if scaled:
            index = spec.names.index(SCALED_DIMENSIONS[dim.name])
            typical = float(np.nanmedian(x["train"][:, index]))
            y = {s: values / row_scale(x[s], index, typical) for s, values in y.items()}
        keep = {s: np.isfinite(v) for s, v in y.items()}
        if keep["train"].sum() < 10:
            log(f"value: {dim.name} skipped (no realised target in the data)")
            continue
        train_xy = (x["train"][keep["train"]], y["train"][keep["train"]])
        valid_xy = (x["validation"][keep["validation"]], y["validation"][keep["validation"]])
        if keep["validation"].sum() < 2:
            # A target derived from the order history (repeat purchase in 90 days) is not
            # realised yet for the latest orders: stop early on the last realised training rows.
            train_xy, valid_xy = _last_share(train_xy, 0.2)
            log(f"value: {dim.name} early-stopped on the last realised training orders")
        # No linear_tree here although it fits money-like targets far better (net revenue R²
        # 0.64 → 0.96 on 20k orders): LightGBM cannot compute TreeSHAP for linear trees, and
        # value reasons and model cards need it. The better fix is a feature (net order value).
        params = boosting.base_params(training, "binary" if dim.binary else "regression")
        booster = boosting.fit(
            params,
            spec,
            train_xy,
            valid_xy,
            rounds=rounds,
            early_stopping=training.early_stopping_rounds,
            # A dimension realised on only some orders trains on those rows, binned anew.
            binned=binned if all(k.all() for k in keep.values()) else None,
        )
        models[dim.name] = (
            ScaledBooster(booster, index=index, typical=typical) if scaled else booster
        )
    value = ValueModels(spec, models)
    raw = value.predict_raw(x["train"])
    value.reference = {name: np.quantile(raw[name].to_numpy(), QUANTILES) for name in raw}
    value.weights = {name: training.value_weights.get(name, 1.0) for name in models}
    value.index_reference = np.quantile(value.index(value.dimension_scores(raw)), QUANTILES)
    value.tier_cutoffs = dict(training.tier_cutoffs)
    log(f"value: {len(models)} dimension models")
    return value


def _last_share(
    train: tuple[np.ndarray, np.ndarray], share: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The training rows split in time order (rows are time-ordered): the first ``1 - share``
    to fit, the last ``share`` to stop early on."""
    x, y = train
    cut = max(int(len(y) * (1 - share)), 1)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
