"""A regularised logistic regression on the model matrix: the small-data companion of the trees.

It reads the same matrix as the LightGBM models (numeric columns and categorical codes, NaN for
missing), so the service needs nothing new to score it. Numeric columns become their position in
the training distribution (0-1, from 101 training quantiles: bounded, so a count that keeps
growing over time — a customer's orders so far — cannot extrapolate the log-odds into nonsense
on later orders, as clipped raw values did on the real SCMS export: test AUC 0.57, Brier 0.26),
a missing value the training median's position (plus a missing flag where the column has gaps),
then standardised; categorical codes become one-hot columns for levels seen at
least ``min_level_rows`` times (rarer levels share the all-zero "other" row). Everything fitted
is plain arrays, stored as JSON beside the models.

Being additive in log-odds, its exact SHAP values (features independent) are
``coef · (x − training mean)`` per feature: :meth:`LinearRisk.contributions` returns them in
LightGBM's ``pred_contrib`` layout, so blended reasons stay exact and additive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression


@dataclass
class LinearRisk:
    """Logistic regression over selected columns of a model matrix (sklearn conventions).

    Attributes:
        columns: positions of the matrix columns it reads.
        categorical: which of those columns hold category codes.
        c: inverse L2 strength (sklearn's ``C``).
        min_level_rows: a category level needs this many training rows to get its own weight.
    """

    columns: list[int]
    categorical: list[bool]
    c: float = 0.3
    min_level_rows: int = 20
    directions: list[int] = field(default_factory=list)
    """Per column: 1 risk may only rise with it, -1 only fall, 0 free (the trees' monotone
    constraints): a weight of the wrong sign is set to 0."""
    # Fitted (trailing underscore): per column, its design block and parameters.
    quantiles_: list[list[float]] = field(default_factory=list)
    flag_: list[bool] = field(default_factory=list)
    levels_: list[list[float]] = field(default_factory=list)
    mean_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept_: float = 0.0
    owner_: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def fit(
        self, matrix: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LinearRisk:
        """Fit the encoding and the regression on training rows; returns self."""
        self.quantiles_, self.flag_, self.levels_ = [], [], []
        for j, is_cat in zip(self.columns, self.categorical, strict=True):
            values = matrix[:, j]
            finite = values[np.isfinite(values)]
            if is_cat:
                codes, counts = np.unique(finite, return_counts=True)
                self.levels_.append([float(c) for c in codes[counts >= self.min_level_rows]])
                self.quantiles_.append([])
                self.flag_.append(False)
                continue
            self.levels_.append([])
            grid = np.quantile(finite, np.linspace(0, 1, 101)) if len(finite) else np.zeros(1)
            self.quantiles_.append([float(q) for q in grid])
            self.flag_.append(bool(0 < len(finite) < len(values)))
        design, self.owner_ = self._design(matrix, with_owner=True)
        self.mean_ = design.mean(axis=0)
        scale = design.std(axis=0)
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        model = LogisticRegression(C=self.c, max_iter=2000)
        model.fit((design - self.mean_) / self.scale_, y, sample_weight=sample_weight)
        coef = model.coef_[0] / self.scale_
        for k, direction in enumerate(self.directions):
            first = int(np.flatnonzero(self.owner_ == k)[0]) if (self.owner_ == k).any() else None
            numeric = first is not None and not self.categorical[k]
            if direction and numeric and coef[first] * direction < 0:
                coef[first] = 0.0  # the value's own weight, not its missing flag
        self.coef_ = coef
        self.intercept_ = float(model.intercept_[0] - self.coef_ @ self.mean_)
        return self

    def _design(self, matrix: np.ndarray, with_owner: bool = False) -> Any:
        blocks, owners = [], []
        for k, j in enumerate(self.columns):
            values = matrix[:, j]
            if self.categorical[k]:
                levels = np.asarray(self.levels_[k], dtype=np.float64)
                block = (values[:, None] == levels[None, :]).astype(np.float64)
            else:
                missing = ~np.isfinite(values)
                grid = np.asarray(self.quantiles_[k])
                position = _position(values, grid)
                filled = np.where(missing, 0.5, position)  # the median's position
                block = np.column_stack([filled, missing] if self.flag_[k] else [filled])
                block = block.astype(np.float64)
            blocks.append(block)
            owners += [k] * block.shape[1]
        design = np.hstack(blocks) if blocks else np.zeros((len(matrix), 0))
        return (design, np.asarray(owners, dtype=int)) if with_owner else design

    def logit(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds of being late for each row."""
        return self._design(matrix) @ self.coef_ + self.intercept_

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """P(late) of each row (this model's own, uncalibrated)."""
        return 1.0 / (1.0 + np.exp(-self.logit(matrix)))

    def contributions(self, matrix: np.ndarray, width: int) -> np.ndarray:
        """Exact log-odds SHAP values in ``pred_contrib`` layout: ``(rows, width + 1)``, one
        column per matrix column (zero for columns it does not read), the bias last."""
        design = self._design(matrix)
        per_column = (design - self.mean_) * self.coef_
        out = np.zeros((len(matrix), width + 1))
        for k, j in enumerate(self.columns):
            out[:, j] = per_column[:, self.owner_ == k].sum(axis=1)
        out[:, -1] = self.intercept_ + self.coef_ @ self.mean_
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (stored beside the models)."""
        return {
            "columns": self.columns,
            "categorical": self.categorical,
            "c": self.c,
            "min_level_rows": self.min_level_rows,
            "directions": self.directions,
            "quantiles": self.quantiles_,
            "flag": self.flag_,
            "levels": self.levels_,
            "mean": self.mean_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "owner": self.owner_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearRisk:
        """The inverse of :meth:`as_dict`."""
        model = cls(
            list(data["columns"]),
            list(data["categorical"]),
            c=float(data["c"]),
            min_level_rows=int(data["min_level_rows"]),
            directions=list(data.get("directions", [])),
        )
        model.quantiles_ = [list(q) for q in data["quantiles"]]
        model.flag_ = list(data["flag"])
        model.levels_ = [list(v) for v in data["levels"]]
        model.mean_ = np.asarray(data["mean"], dtype=np.float64)
        model.coef_ = np.asarray(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.owner_ = np.asarray(data["owner"], dtype=int)
        return model


def _position(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each value's position (0-1) among the training quantiles ``grid``: the share of grid
    points below it, ties counted half (a run of equal quantiles maps to its middle); NaN
    stays NaN."""
    if len(grid) < 2 or grid[0] == grid[-1]:
        return np.zeros(len(values))
    lo = np.searchsorted(grid, values, side="left")
    hi = np.searchsorted(grid, values, side="right")
    return np.where(np.isnan(values), np.nan, (lo + hi) / (2.0 * len(grid)))
