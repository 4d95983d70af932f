"""Model metrics, each also computable for the simulator's oracle on the same rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score


def _finite(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    mask = np.logical_and.reduce([np.isfinite(np.asarray(a, dtype=float)) for a in arrays])
    return tuple(np.asarray(a, dtype=float)[mask] for a in arrays)


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC (None when only one class is present or nothing is finite)."""
    y, score = _finite(y, score)
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, score))


def pr_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall curve)."""
    y, score = _finite(y, score)
    if len(np.unique(y)) < 2:
        return None
    return float(average_precision_score(y, score))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of probabilities."""
    y, p = _finite(y, p)
    return float(np.mean((p - y) ** 2))


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: |mean(p) − mean(y)| per equal-width bin, weighted by size."""
    y, p = _finite(y, p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / max(len(y), 1))


def ece_noise_floor(p: np.ndarray, bins: int = 15) -> float:
    """The ECE that perfectly calibrated probabilities ``p`` would still show on as many rows:
    the estimator's own noise (outcomes drawn as Bernoulli(``p``), same bins as :func:`ece`).

    Per bin, mean(y) − mean(p) of calibrated rows is a sum of independent centred Bernoullis;
    its expected absolute value is ``sqrt(2/π)·sd`` (normal approximation), so the floor is
    ``sqrt(2/π) · Σ_bins sqrt(Σ p(1−p)) / n``. On the demo's test window (2,400 orders at
    creation, late rate ≈ 0.2) it is ≈ 0.019: an ECE near 0.02 there is as much noise as error.
    """
    (p,) = _finite(p)
    if not len(p):
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    variance = np.bincount(which, weights=p * (1.0 - p), minlength=bins)
    return float(np.sqrt(2.0 / np.pi) * np.sqrt(variance).sum() / len(p))


def r2(y: np.ndarray, prediction: np.ndarray) -> float | None:
    """Coefficient of determination (None without finite rows)."""
    y, prediction = _finite(y, prediction)
    if len(y) < 2:
        return None
    return float(r2_score(y, prediction))


def ratio(score: float | None, oracle: float | None, metric: str) -> float | None:
    """Model / oracle on the metric's informative scale: AUC above chance (0.5), R² as is."""
    if score is None or oracle is None:
        return None
    if metric == "auc":
        return (score - 0.5) / (oracle - 0.5) if oracle > 0.5 else None
    return score / oracle if oracle > 0 else None
