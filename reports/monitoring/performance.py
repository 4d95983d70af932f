"""How well the delay model ranks and calibrates: estimated from its own probabilities before
the deliveries are known, and realised once they are — each with its uncertainty.

**Estimated** is confidence-based performance estimation (CBPE, as NannyML's ``CBPE`` does):
if P(late) is calibrated, an order scored ``q`` is late with probability ``q``, so the expected
confusion matrix at every threshold, and with it the ROC curve and its area, follow from the
scores alone. Before estimating, the scores pass through a calibration map fitted on the latest
served predictions whose outcomes have arrived (NannyML fits its map on a labelled reference
period the same way); with too few of those, the model's own probability is used as it is.

NannyML itself is not used: it pins its own pandas/scikit-learn ranges and brings a plotting
stack for one estimator of ~20 lines, and its sampling-error bands assume reference chunks of the
same size. Here the band is exact for the rows at hand: labels drawn from the calibrated
probabilities give the spread the realised AUC would have if calibration held (Monte Carlo).

Realised metrics come with 95 % intervals: AUC by DeLong's variance, the late rate by Wilson's
score interval, Brier by the normal approximation of its per-order terms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

Z95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""


# --- estimated (no labels) -------------------------------------------------------------------
def expected_auc(score: np.ndarray, expected_late: np.ndarray) -> float:
    """The ROC AUC expected if each order is late with probability ``expected_late``.

    Args:
        score: the model's ranking score per order (its P(late)); ties share one threshold.
        expected_late: the calibrated probability that each order is late.

    Returns:
        The area under the expected ROC curve, or NaN when the expected labels hold almost no
        late (or no on-time) orders.
    """
    score = np.asarray(score, dtype=np.float64)
    q = np.asarray(expected_late, dtype=np.float64)
    if len(score) < 2 or q.sum() < 1e-9 or (1 - q).sum() < 1e-9:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    ranked, q = score[order], q[order]
    true_positives, false_positives = np.cumsum(q), np.cumsum(1.0 - q)
    # One point per distinct score: tied orders fall on the same side of every threshold.
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]
    tpr = np.r_[0.0, true_positives[last_of_tie] / true_positives[-1]]
    fpr = np.r_[0.0, false_positives[last_of_tie] / false_positives[-1]]
    return float(np.trapezoid(tpr, fpr))


def auc_band(
    score: np.ndarray, expected_late: np.ndarray, *, draws: int = 200, seed: int = 0
) -> tuple[float, float]:
    """The 95 % range the realised AUC would fall in if the calibrated probabilities were right:
    labels drawn ``draws`` times from ``expected_late``, the AUC of each draw.

    Returns:
        ``(low, high)``; NaNs for fewer than 10 orders.
    """
    score = np.asarray(score, dtype=np.float64)
    q = np.asarray(expected_late, dtype=np.float64)
    if len(score) < 10:
        return float("nan"), float("nan")
    ranks = rankdata(score)  # midranks: ties count one half, as in the realised AUC
    labels = np.random.default_rng(seed).random((draws, len(q))) < q
    positives = labels.sum(axis=1)
    negatives = len(q) - positives
    rank_sums = labels.astype(np.float64) @ ranks
    ok = (positives > 0) & (negatives > 0)
    aucs = (rank_sums[ok] - positives[ok] * (positives[ok] + 1) / 2) / (
        positives[ok] * negatives[ok]
    )
    if len(aucs) < draws / 2:
        return float("nan"), float("nan")
    low, high = np.percentile(aucs, [2.5, 97.5])
    return float(low), float(high)


class CalibrationMap:
    """P(late) → the late rate observed at that P(late), per order stage (isotonic, monotone).

    Fitted on served predictions whose outcomes are known. A stage with fewer than ``min_rows``
    labelled predictions, or only one class, keeps the model's own probability (identity).

    Args:
        min_rows: labelled predictions a stage needs for its own map.
    """

    def __init__(self, *, min_rows: int = 300) -> None:
        self.min_rows = min_rows
        self.maps_: dict[str, IsotonicRegression] = {}
        self.rows_: dict[str, int] = {}

    def fit(self, score: np.ndarray, late: np.ndarray, stage: np.ndarray) -> CalibrationMap:
        """Fit one map per stage that has enough labelled predictions of both classes."""
        score, late, stage = np.asarray(score), np.asarray(late), np.asarray(stage)
        for group in np.unique(stage):
            mask = stage == group
            self.rows_[str(group)] = int(mask.sum())
            y = late[mask]
            if mask.sum() >= self.min_rows and 0 < y.sum() < len(y):
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.maps_[str(group)] = iso.fit(score[mask], y)
        return self

    def predict(self, score: np.ndarray, stage: np.ndarray) -> np.ndarray:
        """The calibrated probability of each order (its own score where no map applies)."""
        score = np.asarray(score, dtype=np.float64)
        out = score.copy()
        stage = np.asarray(stage)
        for group, iso in self.maps_.items():
            mask = stage == group
            if mask.any():
                out[mask] = iso.predict(score[mask])
        return out

    def describe(self) -> str:
        """Which stages were recalibrated, in words for the page and the record."""
        if not self.rows_:
            return "no labelled served predictions yet: the model's own P(late) is used"
        fitted = [f"{g} ({self.rows_[g]:,})" for g in self.maps_]
        kept = [g for g in self.rows_ if g not in self.maps_]
        text = f"recalibrated on labelled served predictions: {', '.join(fitted) or 'none'}"
        if kept:
            text += f"; own P(late) for {', '.join(kept)} (fewer than {self.min_rows} labelled)"
        return text


# --- realised (labels) -----------------------------------------------------------------------
def delong_auc(score: np.ndarray, late: np.ndarray) -> tuple[float, float]:
    """The realised ROC AUC and its standard error (DeLong et al. 1988, via midranks).

    Returns:
        ``(auc, se)``; NaNs when one class is absent.
    """
    score = np.asarray(score, dtype=np.float64)
    late = np.asarray(late).astype(bool)
    pos, neg = score[late], score[~late]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    overall = rankdata(np.r_[pos, neg])
    # Structural components: for each late order, the share of on-time orders it outranks,
    # and for each on-time order, the share of late orders that outrank it.
    v_pos = (overall[:m] - rankdata(pos)) / n
    v_neg = 1.0 - (overall[m:] - rankdata(neg)) / m
    auc = float(v_pos.mean())
    var = (v_pos.var(ddof=1) / m if m > 1 else 0.0) + (v_neg.var(ddof=1) / n if n > 1 else 0.0)
    return auc, float(math.sqrt(var))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % score interval of a proportion; NaNs for ``n == 0``."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration_error(probability: np.ndarray, late: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins (row-weighted)."""
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(late, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        mask = which == b
        total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(p))


@dataclass(frozen=True)
class Performance:
    """Estimated and (where outcomes are known) realised performance of one group of predictions.

    Attributes:
        predictions: predictions in the group.
        estimated_auc: CBPE area under the ROC curve, with ``estimated_auc_low``/``_high``, the
            95 % range the realised AUC should fall in if calibration holds.
        estimated_late_rate: mean calibrated P(late).
        estimated_brier: expected Brier score if calibration holds (mean q·(1−q)).
        labelled: predictions whose outcome is known.
        realised_auc: with a 95 % DeLong interval (``_low``/``_high``).
        realised_late_rate: with Wilson's 95 % interval.
        realised_brier: with a 95 % normal interval.
        realised_ece: expected calibration error of the model's own P(late).
        estimated_auc_labelled: the CBPE estimate on exactly the labelled predictions (what the
            realised AUC is compared with).
        predicted_late_rate: the model's own mean P(late) (what its actions act on), and
            ``predicted_late_rate_labelled`` on the labelled predictions.
    """

    predictions: int
    estimated_auc: float
    estimated_auc_low: float
    estimated_auc_high: float
    estimated_late_rate: float
    estimated_brier: float
    labelled: int = 0
    realised_auc: float = float("nan")
    realised_auc_low: float = float("nan")
    realised_auc_high: float = float("nan")
    realised_late_rate: float = float("nan")
    realised_late_rate_low: float = float("nan")
    realised_late_rate_high: float = float("nan")
    realised_brier: float = float("nan")
    realised_brier_low: float = float("nan")
    realised_brier_high: float = float("nan")
    realised_ece: float = float("nan")
    estimated_auc_labelled: float = float("nan")
    predicted_late_rate: float = float("nan")
    predicted_late_rate_labelled: float = float("nan")

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: NaN becomes None."""
        return {k: _finite_or_none(v) for k, v in asdict(self).items()}


def measure(
    score: np.ndarray,
    expected_late: np.ndarray,
    late: np.ndarray | None = None,
    *,
    min_labelled: int = 30,
    seed: int = 0,
) -> Performance:
    """Estimated and realised performance of one group of predictions.

    Args:
        score: the model's P(late) per prediction (the ranking).
        expected_late: its calibrated probability (see :class:`CalibrationMap`).
        late: per prediction 1/0 where the outcome is known, NaN where not (None: none known).
        min_labelled: fewer labelled predictions than this: no realised figures.
        seed: seed of the Monte Carlo band.
    """
    score = np.asarray(score, dtype=np.float64)
    q = np.asarray(expected_late, dtype=np.float64)
    low, high = auc_band(score, q, seed=seed)
    fields: dict[str, float | int] = {
        "predictions": len(score),
        "estimated_auc": expected_auc(score, q),
        "estimated_auc_low": low,
        "estimated_auc_high": high,
        "estimated_late_rate": float(q.mean()) if len(q) else float("nan"),
        "estimated_brier": float((q * (1 - q)).mean()) if len(q) else float("nan"),
        "predicted_late_rate": float(score.mean()) if len(score) else float("nan"),
    }
    if late is not None:
        late = np.asarray(late, dtype=np.float64)
        known = ~np.isnan(late)
        fields["labelled"] = int(known.sum())
        if known.sum() >= min_labelled:
            fields |= _realised(score[known], late[known].astype(int))
            fields["estimated_auc_labelled"] = expected_auc(score[known], q[known])
            fields["predicted_late_rate_labelled"] = float(score[known].mean())
    return Performance(**fields)


def _realised(score: np.ndarray, late: np.ndarray) -> dict[str, float]:
    auc, se = delong_auc(score, late)
    rate_low, rate_high = wilson(int(late.sum()), len(late))
    squared = (score - late) ** 2
    brier = float(squared.mean())
    brier_half = Z95 * float(squared.std(ddof=1)) / math.sqrt(len(late)) if len(late) > 1 else 0.0
    return {
        "realised_auc": auc,
        "realised_auc_low": max(0.0, auc - Z95 * se) if math.isfinite(se) else float("nan"),
        "realised_auc_high": min(1.0, auc + Z95 * se) if math.isfinite(se) else float("nan"),
        "realised_late_rate": float(late.mean()),
        "realised_late_rate_low": rate_low,
        "realised_late_rate_high": rate_high,
        "realised_brier": brier,
        "realised_brier_low": max(0.0, brier - brier_half),
        "realised_brier_high": brier + brier_half,
        "realised_ece": calibration_error(score, late),
    }


def _finite_or_none(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
