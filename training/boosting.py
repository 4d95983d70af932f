"""LightGBM fitting shared by the delay and value models: parameters from settings, early stopping
on the validation slice, and an optional random search within a time budget."""

from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
import numpy as np

from orderlens.settings import TrainingSettings
from training.matrix import FeatureSpec

SEARCH_SPACE: dict[str, tuple[Any, ...]] = {
    "num_leaves": (15, 31, 63),
    "min_child_samples": (20, 50, 100, 200),
    "learning_rate": (0.03, 0.05, 0.1),
    "feature_fraction": (0.6, 0.8, 1.0),
    "lambda_l2": (0.0, 1.0, 10.0),
}


def base_params(training: TrainingSettings, objective: str, **extra: Any) -> dict[str, Any]:
    """LightGBM parameters of one model from the training settings."""
    params = {
        "objective": objective,
        "learning_rate": training.learning_rate,
        "num_leaves": training.num_leaves,
        "min_child_samples": training.min_child_samples,
        "feature_fraction": training.feature_fraction,
        "bagging_fraction": training.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": training.lambda_l2,
        "num_threads": training.threads,
        "verbosity": -1,
        "seed": 17,
        "deterministic": True,
        # Few-level categoricals (carriers, warehouses, cities) need no heavy smoothing.
        "min_data_per_group": 50,
        "cat_smooth": 10.0,
    }
    params.update(extra)
    return params


def fit(
    params: dict[str, Any],
    spec: FeatureSpec,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int,
    early_stopping: int,
) -> lgb.Booster:
    """Train one booster on ``train`` = (X, y), stopping early on ``valid``.

    Returns:
        The booster, trimmed to its best iteration.
    """
    features = list(spec.names)
    categorical = spec.categorical_indices
    dtrain = lgb.Dataset(
        train[0],
        train[1],
        feature_name=features,
        categorical_feature=categorical,
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(valid[0], valid[1], reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
    )
    # Keep only the trees up to the best iteration: smaller model, faster predictions and SHAP.
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def random_search(
    params: dict[str, Any],
    spec: FeatureSpec,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int,
    early_stopping: int,
    seconds: float,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Try random parameter sets until ``seconds`` have passed; keep the best by the validation
    metric of the objective (the settings' own parameters are the first candidate).

    Returns:
        The best parameters and the trials (parameters, validation loss, seconds).
    """
    rng = np.random.default_rng(seed)
    began = time.perf_counter()
    trials: list[dict[str, Any]] = []
    candidate = dict(params)
    best_params, best_loss = params, np.inf
    while True:
        start = time.perf_counter()
        booster = fit(candidate, spec, train, valid, rounds=rounds, early_stopping=early_stopping)
        loss = _validation_loss(booster, candidate["objective"], valid)
        trials.append(
            {
                **{k: candidate[k] for k in SEARCH_SPACE},
                "loss": loss,
                "seconds": time.perf_counter() - start,
            }
        )
        if loss < best_loss:
            best_params, best_loss = candidate, loss
        if time.perf_counter() - began > seconds:
            return best_params, trials
        draw = {k: v[rng.integers(len(v))] for k, v in SEARCH_SPACE.items()}
        candidate = {**params, **{k: np.asarray(v).item() for k, v in draw.items()}}


def _validation_loss(
    booster: lgb.Booster, objective: str, valid: tuple[np.ndarray, np.ndarray]
) -> float:
    prediction = booster.predict(valid[0])
    y = valid[1]
    if objective == "binary":
        p = np.clip(prediction, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.mean((prediction - y) ** 2))
