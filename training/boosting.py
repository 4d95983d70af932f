"""LightGBM fitting shared by the delay and value models: parameters from settings, early stopping
on the validation slice, and an optional random search within a time budget.

Scale path: :func:`fit` trains on a Dask cluster with ``lightgbm.dask`` when given a
``distributed.Client`` — explicitly (``dask_client=``) or for a block of code with
:func:`on_dask`, which is how the ``train`` flow switches every model of a set to the cluster
without the training code knowing. Either way the result is a plain local ``lgb.Booster``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np

from orderlens.settings import TrainingSettings
from training.matrix import FeatureSpec

if TYPE_CHECKING:
    from distributed import Client

_DASK_CLIENT: ContextVar[Client | None] = ContextVar("orderlens_dask_client", default=None)


@contextlib.contextmanager
def on_dask(client: Client | None) -> Iterator[None]:
    """Within the block, :func:`fit` trains on ``client``'s cluster (None: locally)."""
    token = _DASK_CLIENT.set(client)
    try:
        yield
    finally:
        _DASK_CLIENT.reset(token)


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
        "seed": training.seed,
        "deterministic": True,
        # Few-level categoricals (carriers, warehouses, cities) need no heavy smoothing.
        "min_data_per_group": 50,
        "cat_smooth": 10.0,
        # Few, wide features: column-wise histograms; saying so skips LightGBM's timing of both
        # layouts on every model.
        "force_col_wise": True,
    }
    params.update(extra)
    return params


def for_rows(params: dict[str, Any], rows: int, small: int) -> dict[str, Any]:
    """``params`` regularised for a training set of ``rows`` rows when it is below ``small``:
    few leaves, strong L2, a slower learning rate and smoother categories (a shop's few
    thousand orders: a default LightGBM scored AUC 0.63-0.67 where a logistic regression
    scored 0.73 on the same split)."""
    if rows >= small:
        return params
    return {
        **params,
        "num_leaves": min(params["num_leaves"], 7),
        "lambda_l2": max(params["lambda_l2"], 10.0),
        "learning_rate": min(params["learning_rate"], 0.05),
        "min_child_samples": max(params["min_child_samples"], 20),
        "min_data_per_group": 100,
        "cat_smooth": 30.0,
        "max_cat_threshold": 16,
    }


@dataclass
class Binned:
    """The training and validation matrices binned once into LightGBM Datasets, reused by every
    model fitted on the same rows (the 19 value dimensions; the delay classifier, hours and P90):
    binning is a full pass over the matrix, and otherwise each model paid it again.

    Attributes:
        train: the constructed training Dataset (labels are set per model).
        valid: the validation Dataset, binned with ``train``'s bin edges.
    """

    train: lgb.Dataset
    valid: lgb.Dataset

    def labelled(self, y_train: np.ndarray, y_valid: np.ndarray) -> tuple[lgb.Dataset, lgb.Dataset]:
        """Both Datasets with these labels (one model at a time: the labels are replaced)."""
        self.train.set_label(y_train)
        self.valid.set_label(y_valid)
        return self.train, self.valid


def bin_matrices(
    params: dict[str, Any], spec: FeatureSpec, train_x: np.ndarray, valid_x: np.ndarray
) -> Binned | None:
    """Bin ``train_x`` (and ``valid_x`` with its edges) once for every model of ``params``'
    dataset settings (bins, categoricals, minimum leaf size); labels are set by :func:`fit`.

    Returns None inside :func:`on_dask`: there each worker bins its own partition, and binning
    here would only hold a second copy of the data beside the cluster's.
    """
    if _DASK_CLIENT.get() is not None:
        return None
    # Both say their features and categoricals: lgb.train re-checks them against the reference,
    # which a Dataset whose raw data is freed can only pass when they are equal.
    columns = {"feature_name": list(spec.names), "categorical_feature": spec.categorical_indices}
    train = lgb.Dataset(train_x, np.zeros(len(train_x)), params=params, **columns).construct()
    valid = lgb.Dataset(valid_x, np.zeros(len(valid_x)), reference=train, **columns).construct()
    return Binned(train, valid)


def fit(
    params: dict[str, Any],
    spec: FeatureSpec,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int,
    early_stopping: int,
    dask_client: Client | None = None,
    binned: Binned | None = None,
) -> lgb.Booster:
    """Train one booster on ``train`` = (X, y), stopping early on ``valid``.

    Args:
        dask_client: train on this Dask cluster with ``lightgbm.dask`` (default: the client of
            an enclosing :func:`on_dask`, else locally).
        binned: ``train`` and ``valid``'s matrices already binned (:func:`bin_matrices`): only
            the labels are taken from ``train`` / ``valid`` (locally; Dask bins on its workers).

    Returns:
        The booster, trimmed to its best iteration.
    """
    client = dask_client or _DASK_CLIENT.get()
    if client is not None:
        return _fit_on_dask(
            client, params, spec, train, valid, rounds=rounds, early_stopping=early_stopping
        )
    if binned is not None:
        dtrain, dvalid = binned.labelled(train[1], valid[1])
    else:
        dtrain = lgb.Dataset(
            train[0],
            train[1],
            feature_name=list(spec.names),
            categorical_feature=spec.categorical_indices,
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


def _fit_on_dask(
    client: Client,
    params: dict[str, Any],
    spec: FeatureSpec,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int,
    early_stopping: int,
) -> lgb.Booster:
    """:func:`fit` on a Dask cluster: data-parallel LightGBM over the cluster's workers.

    ``lightgbm.dask`` has no reliable early stopping (each worker would judge its own slice of the
    validation set and could stop at a different round), so all ``rounds`` are trained and the
    booster is trimmed here with LightGBM's own rule: the best validation loss, stopping at the
    first run of ``early_stopping`` rounds without improvement.
    """
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    x, y = train
    chunk = max(-(-len(x) // workers), 1)  # one partition per worker
    dx = da.from_array(x, chunks=(chunk, x.shape[1]))
    dy = da.from_array(y, chunks=chunk)
    model_class = DaskLGBMClassifier if params["objective"] == "binary" else DaskLGBMRegressor
    # The sklearn wrapper takes the round count as n_estimators; threads come from the workers.
    options = {k: v for k, v in params.items() if k not in {"num_threads", "n_jobs"}}
    model = model_class(client=client, n_estimators=rounds, **options)
    with warnings.catch_warnings():
        # LightGBM's sklearn layer always turns n_jobs into num_threads, which its Dask layer then
        # drops with a warning on every fit (threads come from the workers, as intended here).
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(
            dx, dy, feature_name=list(spec.names), categorical_feature=spec.categorical_indices
        )
    booster = model.to_local().booster_
    best = _best_iteration(booster, params, valid, early_stopping)
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _best_iteration(
    booster: lgb.Booster,
    params: dict[str, Any],
    valid: tuple[np.ndarray, np.ndarray],
    early_stopping: int,
) -> int:
    """The iteration LightGBM's early stopping would keep, from validation losses per round."""
    x, y = valid
    raw = np.zeros(len(x))
    best, best_loss = 1, np.inf
    for i in range(booster.current_iteration()):
        raw += booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1)
        loss = _raw_loss(raw, y, params)
        if loss < best_loss:
            best, best_loss = i + 1, loss
        elif i + 1 - best >= early_stopping:
            break
    return best


def _raw_loss(raw: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> float:
    """The objective's default validation metric, from raw scores."""
    objective = params["objective"]
    if objective == "binary":
        p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if objective == "tweedie":  # negative log-likelihood, as LightGBM's tweedie metric
        rho = params.get("tweedie_variance_power", 1.5)
        return float(
            np.mean(-y * np.exp((1 - rho) * raw) / (1 - rho) + np.exp((2 - rho) * raw) / (2 - rho))
        )
    if objective == "quantile":
        alpha, error = params.get("alpha", 0.9), y - raw
        return float(np.mean(np.maximum(alpha * error, (alpha - 1) * error)))
    return float(np.mean((raw - y) ** 2))


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
