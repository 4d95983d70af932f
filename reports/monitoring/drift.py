"""Drift that means something: how far each model feature (and the prediction) moved, as an
effect size, weighted by how much the champion relies on the feature.

- **Effect sizes, not p-values.** A numeric feature's shift is the Wasserstein distance between
  the two samples in units of the reference's standard deviation (Evidently's "normed
  Wasserstein"); a categorical feature's is the population stability index (PSI). Both keep their
  size as samples grow, where a p-value finds any difference "significant" with thousands of rows.
  A change in how often a feature is missing counts as a shift of its own (a two-bucket PSI).
- **Less what sampling alone gives.** Two samples from one distribution are at a positive
  distance, larger the smaller they are; the distance a sample of the current size drawn from the
  reference itself has (its *noise*) is subtracted, so a quiet day of a few hundred predictions
  does not read as drift.
- **Weighted by importance.** Each feature weighs its share of the champion's mean absolute
  TreeSHAP contribution on the reference rows: drift in a feature the model ignores says little.
- **Like with like.** Current and reference rows are compared at the same mix of order stages
  (an order scored at creation has no tracking features; one scored in transit has), so a change
  in *when* callers score is not read as drift.
- **Cumulative counts left out.** Features declared cumulative (a customer's orders so far)
  grow with the shop's history by construction; their rates (share of late deliveries) are
  compared instead. The declaration lives with the feature (a Feast field tag).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_THRESHOLD = 0.1
"""Normed Wasserstein distance at which a numeric feature counts as drifted (Evidently's default
threshold for that method)."""
PSI_THRESHOLD = 0.1
"""PSI at which a categorical feature counts as drifted (0.1 "moderate", 0.25 "major" in the
usual credit-scoring reading)."""
NOISE_DRAWS = 6
"""Samples of the reference drawn to measure the noise of each effect."""
STAGE_COLUMN = "trk_stage"
"""The feature that says how far an order got when it was scored (missing: at creation)."""


@dataclass(frozen=True)
class FeatureShift:
    """How far one feature moved.

    Attributes:
        feature: the feature's name.
        kind: ``numeric`` (normed Wasserstein) or ``categorical`` (PSI).
        effect: the raw effect size between the samples.
        noise: the effect a sample of the current size from the reference itself has.
        excess: ``max(effect − noise, 0)``: the shift beyond sampling.
        importance: the feature's share of the champion's importance (sums to 1 over features).
        drifted: ``excess`` at or above the kind's threshold.
        reference_mean, current_mean: means (numeric) or the most frequent value (categorical).
    """

    feature: str
    kind: str
    effect: float
    noise: float
    excess: float
    importance: float
    drifted: bool
    reference_mean: Any = None
    current_mean: Any = None


@dataclass
class DriftSummary:
    """The drift of one comparison.

    Attributes:
        drift_score: importance-weighted mean excess effect (0: nothing beyond sampling).
        drifted_importance: share of the champion's importance carried by drifted features.
        prediction_shift: excess normed Wasserstein distance of P(late) (see
            :func:`prediction_shift`; set by the caller).
        shifts: per compared feature, largest weighted excess first.
        not_compared: feature → why it was left out.
        current_rows, reference_rows: rows compared.
    """

    drift_score: float
    drifted_importance: float
    prediction_shift: float
    shifts: list[FeatureShift]
    not_compared: dict[str, str] = field(default_factory=dict)
    current_rows: int = 0
    reference_rows: int = 0

    @property
    def drifted_features(self) -> list[str]:
        return [s.feature for s in self.shifts if s.drifted]

    def top(self, n: int = 10) -> list[FeatureShift]:
        """The ``n`` features that contribute most to the drift score."""
        return self.shifts[:n]

    def as_dict(self, top: int = 25) -> dict[str, Any]:
        """JSON-ready, with the ``top`` largest contributions."""
        return {
            "drift_score": self.drift_score,
            "drifted_importance": self.drifted_importance,
            "prediction_shift": self.prediction_shift,
            "drifted_features": self.drifted_features,
            "top_features": [asdict(s) for s in self.top(top)],
            "not_compared": self.not_compared,
            "current_rows": self.current_rows,
            "reference_rows": self.reference_rows,
        }


# --- effect sizes ----------------------------------------------------------------------------
def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance of the two samples' values in reference standard deviations (values
    only; see :func:`numeric_effect` for missing values)."""
    if len(reference) == 0 or len(current) == 0:
        return 0.0
    ref = np.sort(reference)
    return _sorted_wasserstein(ref, np.sort(current)) / _scale(ref, current)


def psi(reference: pd.Series, current: pd.Series) -> float:
    """Population stability index of two categorical samples (missing is a category).

    Shares are smoothed by half a row per category, so a category seen on one side only adds a
    finite amount.
    """
    codes, _ = pd.factorize(
        pd.concat([reference, current], ignore_index=True), use_na_sentinel=False
    )
    return psi_of_codes(codes[: len(reference)], codes[len(reference) :], int(codes.max()) + 1)


def psi_of_codes(reference: np.ndarray, current: np.ndarray, categories: int) -> float:
    """:func:`psi` of two samples already coded ``0 .. categories-1``."""
    r = np.bincount(reference, minlength=categories).astype(np.float64) + 0.5
    c = np.bincount(current, minlength=categories).astype(np.float64) + 0.5
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_effect(reference: pd.Series, current: pd.Series) -> float:
    """The larger of the values' normed Wasserstein distance and the PSI of being missing."""
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(np.float64)
    cur = pd.to_numeric(current, errors="coerce").to_numpy(np.float64)
    return numeric_effect_of_arrays(ref, cur)


def numeric_effect_of_arrays(reference: np.ndarray, current: np.ndarray) -> float:
    """:func:`numeric_effect` of two float arrays (NaN: missing)."""
    ref_ok, cur_ok = ~np.isnan(reference), ~np.isnan(current)
    values = normed_wasserstein(reference[ref_ok], current[cur_ok])
    missing = psi_of_codes(ref_ok.astype(np.int64), cur_ok.astype(np.int64), 2)
    return max(values, missing)


def noise_draws(
    reference: pd.DataFrame, current: pd.DataFrame, *, draws: int = NOISE_DRAWS, seed: int = 0
) -> list[np.ndarray]:
    """Row positions of ``draws`` pseudo-current samples drawn from the reference.

    Predictions come in clusters — an order scored at creation and again after each scan shares
    its destination, category and customer across its rows — so a day of 240 predictions may be
    40 orders. Each draw takes as many whole orders (all their rows) from the reference as the
    current sample has, so the noise has the current sample's clustering, not just its size.
    """
    rng = np.random.default_rng(seed)
    if "order_id" not in reference or "order_id" not in current:
        return [rng.integers(0, len(reference), len(current)) for _ in range(draws)]
    rows_of = list(reference.groupby("order_id", sort=False).indices.values())
    n_orders = current["order_id"].nunique()
    out = []
    for _ in range(draws):
        picked = rng.integers(0, len(rows_of), n_orders)
        out.append(np.concatenate([rows_of[i] for i in picked]))
    return out


def shift_of(
    reference: pd.Series, current: pd.Series, kind: str, draws: list[np.ndarray]
) -> tuple[float, float]:
    """``(effect, noise)`` of one feature: its effect size, and the mean effect of the
    pseudo-current samples ``draws`` (row positions in ``reference``, see :func:`noise_draws`)."""
    if kind == "numeric":
        ref = _floats(reference)
        cur = _floats(current)
        # Sort once: the Wasserstein distance of sorted samples is a cheap quantile comparison.
        ref_values = np.sort(ref[~np.isnan(ref)])
        scale = _scale(ref_values, cur)

        def effect_of(sample: np.ndarray) -> float:
            ok = ~np.isnan(sample)
            values = _sorted_wasserstein(ref_values, np.sort(sample[ok])) / scale
            missing = psi_of_codes((~np.isnan(ref)).astype(np.int64), ok.astype(np.int64), 2)
            return max(values, missing)

    else:
        codes, uniques = pd.factorize(
            np.concatenate([_labels(reference), _labels(current)]), use_na_sentinel=False
        )
        ref, cur = codes[: len(reference)], codes[len(reference) :]
        categories = max(len(uniques), 1)

        def effect_of(sample: np.ndarray) -> float:
            return psi_of_codes(ref, sample, categories)

    noise = [effect_of(ref[rows]) for rows in draws]
    return effect_of(cur), float(np.mean(noise)) if noise else 0.0


def _floats(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(np.float64)


def _labels(values: pd.Series) -> np.ndarray:
    """Category labels as strings, missing as ``<missing>`` (one category)."""
    return values.astype("string").fillna("<missing>").to_numpy(str)


def _scale(ref_sorted: np.ndarray, current: np.ndarray) -> float:
    scale = float(np.std(ref_sorted)) if len(ref_sorted) else 0.0
    if scale <= 1e-12:  # a constant reference: any move is a full-scale move
        finite = current[~np.isnan(current)]
        scale = max(float(np.std(finite)) if len(finite) else 0.0, 1.0)
    return scale


def _sorted_wasserstein(a: np.ndarray, b: np.ndarray, points: int = 512) -> float:
    """Wasserstein-1 distance of two sorted samples: the mean absolute difference of their
    quantile functions, on a grid of ``points`` probabilities (exact enough for a threshold
    of 0.1 standard deviations, and cheap for hundreds of features × noise draws)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = (np.arange(points) + 0.5) / points
    qa = a[np.minimum((grid * len(a)).astype(int), len(a) - 1)]
    qb = b[np.minimum((grid * len(b)).astype(int), len(b) - 1)]
    return float(np.mean(np.abs(qa - qb)))


# --- the comparison ----------------------------------------------------------------------------
def stage_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's order stage when scored: ``created`` (no scan yet) or ``scan_<n>``; one
    group for data without tracking."""
    if STAGE_COLUMN not in frame:
        return pd.Series("created", index=frame.index)
    stage = pd.to_numeric(frame[STAGE_COLUMN], errors="coerce")
    return stage.map(lambda s: "created" if pd.isna(s) else f"scan_{int(s)}")


def matched_reference(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    rows: int,
    seed: int = 0,
    stage_column: str | None = None,
) -> pd.DataFrame:
    """``rows`` reference rows drawn at the current mix of order stages (stages the reference
    lacks are left out of the mix; a stage drawn beyond its rows is drawn with replacement).

    Args:
        stage_column: a column both frames have that names the stage (default: from
            ``trk_stage``, see :func:`stage_of`).
    """
    if stage_column is None:
        ref_stage, cur_stage = stage_of(reference), stage_of(current)
    else:
        ref_stage, cur_stage = reference[stage_column], current[stage_column]
    mix = cur_stage.value_counts(normalize=True)
    mix = mix[mix.index.isin(ref_stage.unique())]
    if mix.empty:
        return reference.iloc[:0]
    mix = mix / mix.sum()
    rng = np.random.default_rng(seed)
    parts = []
    for stage, share in mix.items():
        pool = np.flatnonzero((ref_stage == stage).to_numpy())
        n = max(1, round(share * rows))
        parts.append(rng.choice(pool, size=n, replace=n > len(pool)))
    return reference.iloc[np.concatenate(parts)].reset_index(drop=True)


def compare_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    importance: dict[str, float],
    *,
    categorical: set[str],
    cumulative: set[str] = frozenset(),
    seed: int = 0,
) -> DriftSummary:
    """Compare the model features of ``current`` with ``reference`` (already stage-matched).

    Args:
        reference, current: model feature columns (and anything else, ignored).
        importance: feature → importance (any scale; normalised over the compared features).
        categorical: the features compared as categories.
        cumulative: features left out as cumulative counts.
        seed: seed of the noise draws.
    """
    skipped: dict[str, str] = {}
    compared: list[str] = []
    for name in importance:
        if name in cumulative:
            skipped[name] = "cumulative count: grows with the shop's history by construction"
        elif name not in reference or name not in current:
            skipped[name] = "absent from " + ("reference" if name not in reference else "current")
        elif reference[name].isna().all() and current[name].isna().all():
            skipped[name] = "no values on either side"
        else:
            compared.append(name)
    total = sum(importance[n] for n in compared) or 1.0
    draws = noise_draws(reference, current, seed=seed)
    shifts = []
    for name in compared:
        kind = "categorical" if name in categorical else "numeric"
        effect, noise = shift_of(reference[name], current[name], kind, draws)
        excess = max(effect - noise, 0.0)
        threshold = PSI_THRESHOLD if kind == "categorical" else NUMERIC_THRESHOLD
        shifts.append(
            FeatureShift(
                feature=name,
                kind=kind,
                effect=round(effect, 4),
                noise=round(noise, 4),
                excess=round(excess, 4),
                importance=importance[name] / total,
                drifted=excess >= threshold,
                reference_mean=_centre(reference[name], kind),
                current_mean=_centre(current[name], kind),
            )
        )
    shifts.sort(key=lambda s: s.importance * s.excess, reverse=True)
    return DriftSummary(
        drift_score=float(sum(s.importance * s.excess for s in shifts)),
        drifted_importance=float(sum(s.importance for s in shifts if s.drifted)),
        prediction_shift=0.0,
        shifts=shifts,
        not_compared=skipped,
        current_rows=len(current),
        reference_rows=len(reference),
    )


def prediction_shift(reference: pd.DataFrame, current: pd.DataFrame, seed: int = 0) -> float:
    """How far the predicted risk moved: the excess normed Wasserstein distance of ``p_late``
    between held-out reference predictions and current ones (both with ``order_id``)."""
    if reference.empty or current.empty:
        return 0.0
    draws = noise_draws(reference, current, seed=seed)
    effect, noise = shift_of(reference["p_late"], current["p_late"], "numeric", draws)
    return max(effect - noise, 0.0)


def _centre(values: pd.Series, kind: str) -> Any:
    if kind == "categorical":
        mode = values.astype("string").fillna("<missing>").mode()
        return str(mode.iloc[0]) if len(mode) else None
    mean = pd.to_numeric(values, errors="coerce").mean()
    return None if pd.isna(mean) else round(float(mean), 4)
