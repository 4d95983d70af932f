"""Compiled trees predict exactly what the LightGBM boosters predict (the boosters stay the
reference and explain)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from serving import compiled
from serving.compiled import CompiledBooster, ValueForest, compiled_model_set


def test_compiled_trees_agree_with_lightgbm_on_every_split_kind():
    """Numerical splits with each missing type and default direction, categorical splits,
    NaN, zero and unseen categories, binary / tweedie / quantile objectives."""
    rng = np.random.default_rng(3)
    n = 3_000
    x = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 40, size=n).astype(float),  # categorical, 40 levels
            np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),  # many zeros
            rng.normal(size=n),
        ]
    )
    x[rng.random(n) < 0.15, 0] = np.nan
    x[rng.random(n) < 0.1, 1] = np.nan
    y = (x[:, 0] > 0.2).astype(float) + (x[:, 1] % 3 == 0) + 0.5 * x[:, 2]
    for objective, target in (
        ("binary", (y > 1).astype(float)),
        ("tweedie", np.abs(y)),
        ("quantile", y),
        ("regression", y),
    ):
        for zero_as_missing in (False, True):
            params = {
                "objective": objective,
                "verbosity": -1,
                "num_leaves": 15,
                "min_data_per_group": 5,
                "cat_smooth": 1.0,
                "zero_as_missing": zero_as_missing,
            }
            data = lgb.Dataset(x, target, categorical_feature=[1])
            booster = lgb.train(params, data, num_boost_round=30)
            probe = np.vstack([x[:500], [[np.nan, 99.0, 0.0, -1.0], [0.0, -3.0, np.nan, 0.0]]])
            compiled = CompiledBooster(booster)
            for contributions in (False, True):
                np.testing.assert_allclose(
                    compiled.predict(probe, pred_contrib=contributions),
                    booster.predict(probe, pred_contrib=contributions),
                    rtol=0,
                    atol=1e-9,
                    err_msg=f"{objective}, {zero_as_missing=}, {contributions=}",
                )


def test_compiled_trees_agree_on_categorical_splits_beyond_64_categories():
    """Categories from 64 on are kept as a bitset (below 64: one 64-bit mask in place)."""
    rng = np.random.default_rng(5)
    n = 4_000
    x = np.column_stack([rng.integers(0, 150, size=n).astype(float), rng.normal(size=n)])
    x[rng.random(n) < 0.05, 0] = np.nan
    y = ((x[:, 0] % 7 < 3) ^ (x[:, 0] > 100)).astype(float)
    params = {"objective": "binary", "verbosity": -1, "num_leaves": 15, "max_cat_to_onehot": 1}
    params |= {"min_data_per_group": 5, "cat_smooth": 1.0, "max_cat_threshold": 64}
    booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=[0]), num_boost_round=20)
    compiled = CompiledBooster(booster)
    assert compiled.forest.bits_len.max() > 2, "no split lists a category of 64 or more"
    probe = np.vstack(
        [x[:1_000], [[np.nan, 0.0], [-1.0, 0.0], [63.0, 1.0], [64.0, 1.0], [999.0, 0]]]
    )
    np.testing.assert_allclose(compiled.predict(probe), booster.predict(probe), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("table_features", "table_bytes"), [(12, 32 << 20), (3, 32 << 20), (12, 50_000)]
)
def test_compiled_treeshap_agrees_with_lightgbm_pred_contrib(
    monkeypatch, table_features, table_bytes
):
    """TreeSHAP on the compiled trees gives LightGBM's ``pred_contrib`` to 1e-9 on deep trees
    that split on a feature several times along a path (categorical splits, NaN and zeros
    included); trees whose tables would not fit (a leaf on more than ``TABLE_FEATURES``
    features, more than ``TABLE_BYTES``) are explained by the booster; one-leaf trees are bias
    only."""
    monkeypatch.setattr(compiled, "TABLE_FEATURES", table_features)
    monkeypatch.setattr(compiled, "TABLE_BYTES", table_bytes)
    rng = np.random.default_rng(11)
    n = 4_000
    x = rng.normal(size=(n, 6))
    x[:, 1] = rng.integers(0, 30, size=n)  # categorical
    x[rng.random(n) < 0.1, 0] = np.nan
    x[rng.random(n) < 0.3, 2] = 0.0
    y = np.sin(2 * x[:, 0]) + (x[:, 1] % 4 == 1) + x[:, 2] * x[:, 3] + 0.3 * rng.normal(size=n)
    params = {"objective": "binary", "verbosity": -1, "num_leaves": 63, "min_data_in_leaf": 5}
    params |= {"min_data_per_group": 5, "cat_smooth": 1.0}
    data = lgb.Dataset(x, (y > 0.5).astype(float), categorical_feature=[1])
    booster = lgb.train(params, data, num_boost_round=25)
    explained = CompiledBooster(booster)
    tables = explained.shap
    assert (tables is not None) == (table_features == 12 and table_bytes > 50_000)
    probe = np.vstack([x[:300], [[np.nan, 99.0, 0.0, -1.0, 0.0, 0.0], [0.0, -3.0, np.nan] * 2]])
    reference = booster.predict(probe, pred_contrib=True)
    mine = explained.predict(probe, pred_contrib=True)
    np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-9)
    # SHAP values add up to the raw score.
    np.testing.assert_allclose(mine.sum(axis=1), booster.predict(probe, raw_score=True), atol=1e-9)

    stump = lgb.train(params | {"min_data_in_leaf": n}, data, num_boost_round=3)
    np.testing.assert_allclose(
        CompiledBooster(stump).predict(probe, pred_contrib=True),
        stump.predict(probe, pred_contrib=True),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.integration
def test_compiled_model_set_agrees_with_the_boosters(serving_home):
    """Every model of the champion, on its own test window: to 1e-6."""
    from training.matrix import to_matrix
    from training.registry import load_champion, sets_dir

    models = load_champion(serving_home.settings)
    fast = compiled_model_set(models)
    folder = sets_dir(serving_home.settings) / models.version
    delay_x = to_matrix(pd.read_parquet(folder / "test_delay.parquet"), models.delay.spec)
    value_x = to_matrix(pd.read_parquet(folder / "test_value.parquet"), models.value.spec)
    reference, compiled = models.delay.predict(delay_x), fast.delay.predict(delay_x)
    for name in ("p_late", "hours", "hours_p90"):
        np.testing.assert_allclose(compiled[name], reference[name], atol=1e-6, rtol=0)
    # Explanations (TreeSHAP on the compiled trees) as the boosters give them.
    np.testing.assert_allclose(
        fast.delay.contributions(delay_x), models.delay.contributions(delay_x), atol=1e-9, rtol=0
    )
    for name, model in models.value.models.items():
        np.testing.assert_allclose(
            fast.value.models[name].predict(value_x[:300], pred_contrib=True),
            model.predict(value_x[:300], pred_contrib=True),
            atol=1e-9,
            rtol=1e-12,
            err_msg=name,
        )
    forest = ValueForest(models.value.models, value_x.shape[1])
    np.testing.assert_allclose(
        forest.predict(value_x),
        np.column_stack([m.predict(value_x) for m in models.value.models.values()]),
        atol=1e-6,
        rtol=1e-9,
    )
