"""The model card's global SHAP summary: the shap package's beeswarm of exact TreeSHAP values."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from reports.model_card import _png, shap_summary_png


def test_shap_summary_is_a_png_of_the_models_contributions():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, 4))
    label = (matrix[:, 0] + 0.5 * matrix[:, 1] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 4, "verbose": -1},
        lgb.Dataset(matrix, label),
        num_boost_round=10,
    )
    contributions = booster.predict(matrix, pred_contrib=True)[:, :-1]
    png = shap_summary_png(contributions, matrix, ["promise_hours", "distance_km", "b", "c"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    tag = _png(png, "SHAP summary")
    assert tag.startswith("<img alt='SHAP summary'") and "data:image/png;base64," in tag
    assert _png(None, "x") == "<p>not drawn</p>"
