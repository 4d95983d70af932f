"""The skill of each value dimension on the test window, with its uncertainty.

A dimension's model is graded by AUC (yes/no dimensions) or R² (amounts). One number on a few
thousand test orders says little on its own: a paired bootstrap over the test orders gives each
figure a 95 % interval, the model's and the oracle's on the same resamples, and so the
model/oracle ratio's interval too. Orders of one customer share its latent traits, so the
bootstrap draws customers, not orders. A dimension whose interval does not clear chance (R² > 0,
AUC > 0.5) has **no signal**: the value scores give it zero weight and say so instead of showing a
number (see :mod:`training.value`).

The simulator's oracle is an average over replicas of the simulated future, so it carries Monte
Carlo noise of its own. Noise in a prediction lowers its R² by exactly the noise's mean square
(the noise is independent of the realised value), so the oracle's R² is corrected with the
replicas' own variance estimate (``<dimension>__mc_var`` columns): an unbiased estimate of the
R² of the exact expectation, not a figure biased down by the number of replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 400
CHANCE = {"auc": 0.5, "r2": 0.0}
"""What a model without skill scores: a coin flip's AUC, a constant's R²."""
MIN_ROWS = 30
"""Fewer test orders with a realised value than this: no interval, no signal."""


@dataclass(frozen=True)
class Skill:
    """One dimension's skill on the test window.

    Attributes:
        metric: ``auc`` or ``r2``.
        n: test orders with a realised value.
        score, ci_low, ci_high: the model's figure and its interval.
        signal: the interval clears chance.
        oracle, oracle_ci: the oracle's figure (Monte Carlo corrected) and interval; None
            without an oracle.
        ratio, ratio_ci: model/oracle on the informative scale (AUC above 0.5, R² as is);
            None where the oracle's own interval does not clear chance.
    """

    metric: str
    n: int
    score: float | None
    ci_low: float | None
    ci_high: float | None
    signal: bool
    oracle: float | None = None
    oracle_ci: tuple[float, float] | None = None
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``orderlens evaluate --json`` prints for the dimension."""
        return {
            "metric": self.metric,
            "n": self.n,
            "score": self.score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "signal": self.signal,
            "oracle": self.oracle,
            "oracle_ci": list(self.oracle_ci) if self.oracle_ci else None,
            "ratio": self.ratio,
            "ratio_ci": list(self.ratio_ci) if self.ratio_ci else None,
        }


def resample_weights(
    n: int, resamples: int, seed: int = 0, clusters: np.ndarray | None = None
) -> np.ndarray:
    """Bootstrap weights: row ``b`` counts how often each of ``n`` rows is drawn in resample
    ``b``. Shape ``(resamples, n)``.

    Args:
        clusters: a label per row (the customer): whole clusters are drawn, each row weighing
            its cluster's count. Orders of one customer share its latent traits, so their errors
            are not independent; drawing orders one by one would make intervals too narrow
            (on the demo's test window 2,400 orders come from about 1,000 customers).
    """
    rng = np.random.default_rng(seed)
    if clusters is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    _, member = np.unique(clusters, return_inverse=True)
    k = int(member.max()) + 1
    drawn = rng.multinomial(k, np.full(k, 1.0 / k), size=resamples).astype(np.float64)
    return drawn[:, member]


def weighted_r2(
    y: np.ndarray, prediction: np.ndarray, weights: np.ndarray, noise: np.ndarray | None = None
) -> np.ndarray:
    """R² of ``prediction`` under each row of ``weights`` (the full sample: a row of ones).

    Args:
        noise: per-row variance of the prediction's own Monte Carlo error; its weighted mean is
            taken off the squared error (the error of the exact expectation then remains).

    Returns:
        One R² per weight row.
    """
    w = np.atleast_2d(weights)
    total = w.sum(axis=1)
    mean = w @ y / total
    ss_tot = w @ (y**2) - total * mean**2
    ss_res = w @ ((y - prediction) ** 2)
    if noise is not None:
        ss_res = ss_res - w @ noise
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``score`` for the 0/1 ``y`` under each row of ``weights`` (ties count half).

    One sort for every resample: with the scores' distinct values in order, each positive
    beats the negatives of the values below it and ties with those of its own value.
    """
    w = np.atleast_2d(weights)
    values, group = np.unique(score, return_inverse=True)
    positive = y > 0.5
    n_groups = len(values)
    pos = np.zeros((len(w), n_groups))
    neg = np.zeros((len(w), n_groups))
    for b in range(len(w)):  # bincount per resample: cheap (thousands of rows)
        pos[b] = np.bincount(group[positive], weights=w[b, positive], minlength=n_groups)
        neg[b] = np.bincount(group[~positive], weights=w[b, ~positive], minlength=n_groups)
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def grade(
    metric: str,
    y: np.ndarray,
    model: np.ndarray,
    oracle: np.ndarray | None = None,
    oracle_noise: np.ndarray | None = None,
    *,
    clusters: np.ndarray | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Skill:
    """The model's (and the oracle's) skill on one dimension, with bootstrap intervals.

    Args:
        metric: ``auc`` or ``r2``.
        y: realised values (NaN: not realised; those rows are left out).
        model: the model's predictions on the same rows.
        oracle: the oracle's expectation (None or all-NaN: no oracle figures).
        oracle_noise: the variance of the oracle's Monte Carlo error per row (R² correction).
        clusters: the customer of each row: the bootstrap resamples customers (see
            :func:`resample_weights`); None resamples rows.
    """
    keep = np.isfinite(y) & np.isfinite(model)
    has_oracle = oracle is not None and np.isfinite(oracle[keep]).all() and keep.any()
    y, model = y[keep], model[keep]
    n = len(y)
    if n < MIN_ROWS or (metric == "auc" and len(np.unique(y)) < 2):
        return Skill(metric, n, None, None, None, False)
    if clusters is not None:
        clusters = np.asarray(clusters)[keep]
    weights = np.vstack([np.ones(n), resample_weights(n, resamples, seed, clusters)])
    if metric == "auc":
        model_scores = weighted_auc(y, model, weights)
    else:
        model_scores = weighted_r2(y, model, weights)
    low, high = _interval(model_scores[1:])
    skill = Skill(
        metric, n, _num(model_scores[0]), low, high, low is not None and low > CHANCE[metric]
    )
    if not has_oracle:
        return skill
    oracle = oracle[keep]
    noise = None if oracle_noise is None else np.nan_to_num(oracle_noise[keep])
    if metric == "auc":
        oracle_scores = weighted_auc(y, oracle, weights)
    else:
        oracle_scores = weighted_r2(y, oracle, weights, noise)
    o_low, o_high = _interval(oracle_scores[1:])
    chance = CHANCE[metric]
    ratio = ratio_ci = None
    if o_low is not None and o_low > chance:
        ratios = (model_scores - chance) / (oracle_scores - chance)
        ratio = _num(ratios[0])
        r_low, r_high = _interval(ratios[1:])
        ratio_ci = (r_low, r_high) if r_low is not None else None
    return Skill(
        metric,
        n,
        skill.score,
        low,
        high,
        skill.signal,
        _num(oracle_scores[0]),
        (o_low, o_high) if o_low is not None else None,
        ratio,
        ratio_ci,
    )


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """The percentile interval at :data:`CONFIDENCE` of finite bootstrap values."""
    finite = values[np.isfinite(values)]
    if len(finite) < 0.9 * len(values) or not len(finite):
        return None, None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def mean_ratio(skills: dict[str, dict[str, Any]], *, signal_only: bool = True) -> dict[str, Any]:
    """The mean model/oracle ratio over dimensions with a ratio (by default: with signal), with
    an interval from the dimensions' own intervals.

    Returns:
        ``mean``, ``ci`` (or None), ``dimensions`` (names averaged).
    """
    rows = {
        name: s
        for name, s in skills.items()
        if s.get("ratio") is not None and (s.get("signal") or not signal_only)
    }
    if not rows:
        return {"mean": None, "ci": None, "dimensions": []}
    ratios = np.array([s["ratio"] for s in rows.values()])
    mean = float(ratios.mean())
    halves = [(s["ratio_ci"][1] - s["ratio_ci"][0]) / 2 for s in rows.values() if s.get("ratio_ci")]
    ci = None
    if len(halves) == len(rows):
        # Dimensions share test orders, so errors are not independent: the interval treats them
        # as perfectly correlated (the mean of the half-widths), the cautious reading.
        half = float(np.mean(halves))
        ci = [mean - half, mean + half]
    return {"mean": mean, "ci": ci, "dimensions": sorted(rows)}
