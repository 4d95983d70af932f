"""Value dimensions with a known part and a scale: the model learns only the uncertain rest, and
every way of predicting (the booster wrapper, its contributions, the registry's record, the
service's compiled forest) gives the same amounts."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from orderlens.dimensions import DIMENSION_NAMES
from orderlens.settings import TrainingSettings
from serving.compiled import ValueForest
from training.matrix import to_matrix
from training.value import KNOWN_PARTS, SCALED_DIMENSIONS, ScaledBooster, train_value


def _rest_booster(x: np.ndarray, y: np.ndarray) -> lgb.Booster:
    params = {"objective": "regression", "verbosity": -1, "num_leaves": 7, "seed": 1}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(size=n), rng.uniform(10, 500, n), rng.uniform(-50, 300, n)]
    )  # a driver, a scale (order value), a known part (margin at checkout)
    x[rng.random(n) < 0.1, 1] = np.nan
    x[rng.random(n) < 0.1, 2] = np.nan
    return x


def test_known_part_plus_scaled_rest_is_exact_and_additive():
    x = _matrix(800)
    booster = _rest_booster(x, 0.1 * x[:, 0])
    model = ScaledBooster(booster, index=1, typical=200.0, known=2, known_mean=120.0)
    scale = np.maximum(np.where(np.isnan(x[:, 1]), 200.0, x[:, 1]), 1.0)
    expected = np.nan_to_num(x[:, 2]) + scale * booster.predict(x)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12)
    contributions = model.predict(x, pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), expected, rtol=1e-9, atol=1e-9)
    # The known part is its own feature's reason, measured from the training mean.
    rest = booster.predict(x, pred_contrib=True)[:, 2] * scale
    np.testing.assert_allclose(contributions[:, 2], rest + np.nan_to_num(x[:, 2]) - 120.0)
    rebuilt = ScaledBooster(booster, **model.as_dict())
    np.testing.assert_allclose(rebuilt.predict(x), expected, rtol=1e-12)


def test_compiled_forest_completes_scaled_and_known_parts_alike():
    x = _matrix(600, seed=1)
    plain = _rest_booster(x, x[:, 0])
    models = {
        "plain": plain,
        "scaled": ScaledBooster(_rest_booster(x, x[:, 0] ** 2), index=1, typical=150.0),
        "known": ScaledBooster(_rest_booster(x, np.abs(x[:, 0])), known=2, known_mean=80.0),
        "both": ScaledBooster(_rest_booster(x, -x[:, 0]), index=1, typical=150.0, known=2),
    }
    forest = ValueForest(models, x.shape[1])
    np.testing.assert_allclose(
        forest.predict(x),
        np.column_stack([m.predict(x) for m in models.values()]),
        atol=1e-9,
        rtol=1e-9,
    )


def test_training_learns_the_rest_and_falls_back_without_the_features():
    """Gross margin = the margin at checkout less refunds; fulfilment cost = freight plus
    packing. With the features, the wrappers carry them; an export without them models the
    dimensions plainly."""
    rng = np.random.default_rng(4)
    n = 1_200
    net = rng.uniform(20, 2_000, n)
    freight = rng.uniform(5, 60, n)
    checkout = 0.3 * net - freight
    returned = rng.random(n) < 0.1
    split = np.where(np.arange(n) < 900, "train", "validation")
    split[1_050:] = "test"
    frame = pd.DataFrame(
        {
            **dict.fromkeys(DIMENSION_NAMES, np.nan),  # not realised here: skipped
            "order_id": [f"o{i}" for i in range(n)],
            "net_order_value": net,
            "order_margin": checkout,
            "freight_cost": freight,
            "n_items": rng.integers(1, 5, n).astype(float),
            "gross_margin": checkout - returned * 0.9 * net,
            "fulfilment_cost": freight + 2.0 + 0.5 * rng.random(n),
            "split": split,
        }
    )
    settings = TrainingSettings()
    value = train_value(frame, settings, rounds=40, log=lambda _: None)
    margin, fulfilment = value.models["gross_margin"], value.models["fulfilment_cost"]
    assert KNOWN_PARTS["gross_margin"] == "order_margin"
    assert SCALED_DIMENSIONS["gross_margin"] == "net_order_value"
    names = value.spec.names
    assert margin.known == names.index("order_margin")
    assert margin.index == names.index("net_order_value")
    assert fulfilment.known == names.index("freight_cost") and fulfilment.index == -1
    test = frame[frame["split"] == "test"]
    raw = value.predict_raw(to_matrix(test, value.spec))
    # Against each order's exact expectation, the predictions are close: the trees had only the
    # rest (a refund share of the net, a packing fee) to learn.
    expected = {
        "gross_margin": test["order_margin"] - 0.1 * 0.9 * test["net_order_value"],
        "fulfilment_cost": test["freight_cost"] + 2.25,
    }
    for name, exact in expected.items():
        error = raw[name].to_numpy() - exact.to_numpy()
        assert np.mean(error**2) < 0.1 * np.var(exact.to_numpy()), name
    plain = train_value(
        frame.drop(columns=["order_margin", "freight_cost"]),
        settings,
        rounds=10,
        log=lambda _: None,
    )
    assert not isinstance(plain.models["fulfilment_cost"], ScaledBooster)
    assert plain.models["gross_margin"].known == -1
