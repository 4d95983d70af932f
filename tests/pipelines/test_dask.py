"""The scale path on a local Dask cluster: LightGBM through ``lightgbm.dask`` (the boosting seam)
and the ``train`` flow switched to Prefect's ``DaskTaskRunner`` by settings alone."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training import boosting
from training.matrix import FeatureSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = FeatureSpec(
    names=("distance", "backlog", "alert", "carrier"), categories={"carrier": tuple("ABCDEF")}
)


def late_orders(n: int, seed: int, hours: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A small delay-like problem: risk grows with distance, backlog, alerts and two carriers;
    ``hours``: the target is delay hours (0 when on time) instead of late or not."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.gamma(2.0, 400.0, n),
            rng.exponential(5.0, n),
            rng.integers(0, 5, n),
            rng.integers(0, 6, n),
        ]
    ).astype(np.float64)
    logit = -2.5 + x[:, 0] / 800 + x[:, 1] / 8 + 0.5 * x[:, 2] + np.isin(x[:, 3], [2, 4]) * 1.0
    if hours:
        return x, np.clip(6 * logit + rng.normal(0, 4, n), 0, None)
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("objective", ["binary", "tweedie", "quantile"])
def test_boosting_on_dask_predicts_like_local(dask_client, objective):
    from orderlens.settings import TrainingSettings

    hours = objective != "binary"
    train, valid, test = (late_orders(n, s, hours) for n, s in ((3000, 1), (800, 2), (2000, 3)))
    extra = {"alpha": 0.9} if objective == "quantile" else {}
    params = boosting.base_params(TrainingSettings(), objective, **extra)
    local = boosting.fit(params, SPEC, train, valid, rounds=60, early_stopping=10)
    with boosting.on_dask(dask_client):
        on_dask = boosting.fit(params, SPEC, train, valid, rounds=60, early_stopping=10)
    assert on_dask.feature_name() == list(SPEC.names) and 1 <= on_dask.num_trees() <= 60
    x, y = test
    if objective == "binary":
        auc_local = roc_auc_score(y, local.predict(x))
        auc_dask = roc_auc_score(y, on_dask.predict(x))
        assert auc_local > 0.75 and abs(auc_dask - auc_local) < 0.02, (auc_local, auc_dask)
    else:  # same ordering of risk: the two regressors agree closely
        corr = np.corrcoef(local.predict(x), on_dask.predict(x))[0, 1]
        assert corr > 0.9, corr


def test_outside_on_dask_fit_is_local_again(dask_client):
    from orderlens.settings import TrainingSettings

    with boosting.on_dask(dask_client):
        pass
    params = boosting.base_params(TrainingSettings(), "binary")
    booster = boosting.fit(
        params, SPEC, late_orders(500, 1), late_orders(200, 2), rounds=5, early_stopping=5
    )
    assert booster.num_trees() <= 5
