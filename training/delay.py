"""Delay models: calibrated P(late), expected delay hours and their P90, from one set of features
for every stage of an order's life (trained on all snapshots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from orderlens.settings import TrainingSettings
from training import boosting
from training.explain import group_matrix, probability_points
from training.matrix import FeatureSpec, fit_feature_spec, to_matrix


@dataclass
class DelayModels:
    """The four delay models and the feature spec they share.

    Attributes:
        spec: the model matrix's columns and categories.
        classifier: LightGBM binary classifier (raw score = log-odds of being late).
        calibrator: isotonic maps (per tracking stage) from the classifier's probability to
            calibrated P(late), fitted on the validation slice (later than training).
        hours: expected delay hours after the promise (Tweedie; 0 when on time).
        p90: the 90th percentile of the delay hours (quantile regression).
        base_probability: calibrated P(late) at the classifier's expected score (SHAP base).
        params: the LightGBM parameters used.
        creation_classifier: the classifier of orders with no scan yet (``trk_stage`` missing),
            or None when ``classifier`` scores every stage. Trained on creation snapshots only:
            shared with the later snapshots, where tracking features explain most of the loss,
            the creation score was markedly worse (AUC 0.759 vs 0.797 at 20k orders).
        creation_base_probability: its SHAP base, as ``base_probability``.
    """

    spec: FeatureSpec
    classifier: lgb.Booster
    calibrator: StageCalibrator
    hours: lgb.Booster
    p90: lgb.Booster
    base_probability: float
    params: dict[str, Any] = field(default_factory=dict)
    creation_classifier: lgb.Booster | None = None
    creation_base_probability: float | None = None

    def at_creation(self, matrix: np.ndarray) -> np.ndarray | None:
        """Rows the creation classifier scores (no scan yet), or None without one."""
        if self.creation_classifier is None or "trk_stage" not in self.spec.names:
            return None
        return np.isnan(matrix[:, self.spec.names.index("trk_stage")])

    def raw_probability(self, matrix: np.ndarray) -> np.ndarray:
        """The uncalibrated classifier probability, each row from its own classifier."""
        created = self.at_creation(matrix)
        if created is None:
            return self.classifier.predict(matrix)
        raw = np.empty(len(matrix))
        for mask, booster in ((created, self.creation_classifier), (~created, self.classifier)):
            if mask.any():
                raw[mask] = booster.predict(matrix[mask])
        return raw

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP (``pred_contrib``) of each row's classifier; last column the bias."""
        created = self.at_creation(matrix)
        if created is None:
            return self.classifier.predict(matrix, pred_contrib=True)
        out = np.empty((len(matrix), matrix.shape[1] + 1))
        for mask, booster in ((created, self.creation_classifier), (~created, self.classifier)):
            if mask.any():
                out[mask] = booster.predict(matrix[mask], pred_contrib=True)
        return out

    def predict(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """``p_late`` (calibrated), ``hours`` (expected, ≥ 0) and ``hours_p90`` per row."""
        raw = self.raw_probability(matrix)
        return {
            "p_late": self.calibrator.predict(raw, matrix),
            "hours": np.clip(self.hours.predict(matrix), 0.0, None),
            "hours_p90": np.clip(self.p90.predict(matrix), 0.0, None),
        }

    def explain(self, matrix: np.ndarray, contributions: np.ndarray | None = None) -> np.ndarray:
        """Per order and reason group (``orderlens.reasons.REASON_GROUPS`` order), the points of
        P(late) the group adds (sums to ``100·(p − base)``), from exact TreeSHAP.

        Args:
            matrix: model matrix rows.
            contributions: precomputed ``pred_contrib`` output of each row's classifier (e.g.
                from a faster exact TreeSHAP); default LightGBM's own (:meth:`contributions`).
        """
        if contributions is None:
            contributions = self.contributions(matrix)
        p = self.calibrator.predict(self.raw_probability(matrix), matrix)
        base = np.full(len(matrix), self.base_probability)
        created = self.at_creation(matrix)
        if created is not None:
            base[created] = self.creation_base_probability
        points = probability_points(contributions[:, :-1], p, base)
        return points @ group_matrix(self.spec.names)


class StageCalibrator:
    """Isotonic calibration per tracking stage (the ``trk_stage`` feature; missing = at creation).

    One model serves every stage, but its raw scores are calibrated differently early and late
    in an order's life (at creation the data is 1/6 of the rows and the model is least sure), so
    each stage gets its own isotonic map, with a pooled map for stages too rare to fit. Isotonic
    maps are non-decreasing: calibration never reverses a risk ordering within a stage.
    """

    def __init__(self, *, stage_index: int | None, min_rows: int = 500) -> None:
        self.stage_index = stage_index
        self.min_rows = min_rows

    def fit(self, raw: np.ndarray, y: np.ndarray, stage: np.ndarray) -> StageCalibrator:
        """Fit the pooled and per-stage maps; ``stage`` is the trk_stage column (NaN allowed)."""
        self.pooled_ = _isotonic(raw, y)
        key = _stage_key(stage)
        self.by_stage_ = {
            float(k): _isotonic(raw[key == k], y[key == k])
            for k in np.unique(key)
            if (key == k).sum() >= self.min_rows
        }
        return self

    def predict(self, raw: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities; without ``matrix`` (or a stage column) the pooled map."""
        if matrix is None or self.stage_index is None:
            return _apply(self.pooled_, raw)
        key = _stage_key(matrix[:, self.stage_index])
        out = np.empty(len(raw))
        done = np.zeros(len(raw), dtype=bool)
        for k, model in self.by_stage_.items():
            mask = key == k
            if mask.any():
                out[mask] = _apply(model, raw[mask])
                done |= mask
        if not done.all():
            out[~done] = _apply(self.pooled_, raw[~done])
        return out


def _apply(model: IsotonicRegression, raw: np.ndarray) -> np.ndarray:
    """``model.predict(raw)`` (linear interpolation between the fitted thresholds, clipped at
    the ends) without sklearn's per-call input validation, which dominated one-row calls."""
    return np.interp(raw, model.X_thresholds_, model.y_thresholds_)


def _stage_key(stage: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(stage), -1.0, stage)


def _isotonic(raw: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)


def train_delay(
    frame: pd.DataFrame,
    training: TrainingSettings,
    *,
    rounds: int | None = None,
    skipped_views: tuple[str, ...] = (),
    log: Any = print,
) -> DelayModels:
    """Fit the four delay models on a delay training set with a ``split`` column.

    The classifier and regressors learn on ``train`` and stop early on ``validation``; the
    calibrator is fitted on ``validation`` (a later time slice than training). ``test`` is not
    touched.

    Args:
        frame: delay_v1 training set with ``split``, ``is_late`` and ``delay_hours``.
        training: hyper-parameters.
        rounds: boosting rounds (default ``training.max_rounds``; small for smoke runs).
        skipped_views: feature views absent from the store, recorded in the spec.
        log: where progress lines go.
    """
    spec = fit_feature_spec(frame[frame["split"] == "train"], skipped_views=skipped_views)
    parts = {s: frame[frame["split"] == s] for s in ("train", "validation")}
    x = {s: to_matrix(part, spec) for s, part in parts.items()}
    rounds = rounds or training.max_rounds
    stop = training.early_stopping_rounds
    monotone = (
        {
            "monotone_constraints": spec.monotone_constraints(),
            "monotone_constraints_method": "advanced",
        }
        if training.monotone
        else {}
    )

    def xy(target: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return (
            (x["train"], parts["train"][target].to_numpy(np.float64)),
            (x["validation"], parts["validation"][target].to_numpy(np.float64)),
        )

    params = boosting.base_params(training, "binary", **monotone)
    if training.tune_seconds > 0:
        params, trials = boosting.random_search(
            params,
            spec,
            *xy("is_late"),
            rounds=rounds,
            early_stopping=stop,
            seconds=training.tune_seconds,
        )
        log(f"delay tuning: {len(trials)} trials, best {params}")
    # The classifier, hours and P90 models learn from the same rows: bin them once (with the
    # tuned parameters: the minimum leaf size decides which features are kept at binning).
    binned = boosting.bin_matrices(params, spec, x["train"], x["validation"])
    classifier = boosting.fit(
        params, spec, *xy("is_late"), rounds=rounds, early_stopping=stop, binned=binned
    )
    log(f"delay classifier: {classifier.num_trees()} trees")
    stage_index = spec.names.index("trk_stage") if "trk_stage" in spec.names else None
    creation = None
    if training.creation_model and stage_index is not None:
        train_xy, valid_xy = xy("is_late")
        first = [np.isnan(x[s][:, stage_index]) for s in ("train", "validation")]
        # Always fitted here, never on a Dask cluster: on creation rows every tracking feature
        # is missing by definition, and lightgbm.dask's data-parallel Dataset construction
        # segfaulted on them (tests/pipelines, both workers in LGBM_DatasetCreateFromMat).
        # These rows are about a sixth of the set.
        with boosting.on_dask(None):
            creation = boosting.fit(
                params,
                spec,
                (train_xy[0][first[0]], train_xy[1][first[0]]),
                (valid_xy[0][first[1]], valid_xy[1][first[1]]),
                rounds=rounds,
                early_stopping=stop,
            )
        # Kept only when it beats the shared classifier on the validation creation rows (on a
        # few hundred orders it can stop flat, and reasons would vanish).
        valid_first = (valid_xy[0][first[1]], valid_xy[1][first[1]])
        own = _log_loss(valid_first[1], creation.predict(valid_first[0]))
        shared = _log_loss(valid_first[1], classifier.predict(valid_first[0]))
        log(
            f"delay classifier at creation: {creation.num_trees()} trees, validation log loss"
            f" {own:.4f} vs {shared:.4f} shared: {'kept' if own < shared else 'dropped'}"
        )
        if own >= shared:
            creation = None
    raw_valid = classifier.predict(x["validation"])
    if creation is not None:  # each row scored by its own classifier, as DelayModels does
        raw_valid[first[1]] = creation.predict(x["validation"][first[1]])
    calibrator = StageCalibrator(stage_index=stage_index).fit(
        raw_valid,
        parts["validation"]["is_late"].to_numpy(np.float64),
        x["validation"][:, stage_index]
        if stage_index is not None
        else np.full(len(raw_valid), np.nan),
    )
    hours = boosting.fit(
        {**params, "objective": "tweedie", "tweedie_variance_power": 1.5},
        spec,
        *xy("delay_hours"),
        rounds=rounds,
        early_stopping=stop,
        binned=binned,
    )
    # LightGBM refuses monotone constraints with the quantile objective.
    unconstrained = {k: v for k, v in params.items() if not k.startswith("monotone")}
    p90 = boosting.fit(
        {**unconstrained, "objective": "quantile", "alpha": 0.9},
        spec,
        *xy("delay_hours"),
        rounds=rounds,
        early_stopping=stop,
        binned=binned,
    )
    return DelayModels(
        spec,
        classifier,
        calibrator,
        hours,
        p90,
        _base_probability(classifier, calibrator, x["validation"][:1]),
        params,
        creation,
        None
        if creation is None
        else _base_probability(creation, calibrator, x["validation"][first[1]][:1], staged=True),
    )


def _base_probability(
    booster: lgb.Booster, calibrator: StageCalibrator, row: np.ndarray, *, staged: bool = False
) -> float:
    """Calibrated P(late) at the booster's expected score: the SHAP base (the pooled map, or
    with ``staged`` the map of ``row``'s stage)."""
    bias = float(booster.predict(row, pred_contrib=True)[0, -1])
    raw = np.array([1.0 / (1.0 + np.exp(-bias))])
    return float(calibrator.predict(raw, row if staged else None)[0])


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
