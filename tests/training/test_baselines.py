"""Baselines, the logistic companion and the baseline gate, on tiny inline frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.baselines import region_late_rate
from training.evaluate import baseline_gate, strict_json, without_oracle
from training.linear import LinearRisk
from training.matrix import FeatureSpec


def _orders(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 6, unit="h")
    region = rng.choice(["north", "south"], n)
    late = (rng.random(n) < np.where(region == "north", 0.6, 0.1)).astype(int)
    return pd.DataFrame(
        {
            "created_at": created,
            "promised_at": created + pd.Timedelta(days=3),
            "dest_region": region,
            "is_late": late,
        }
    )


def test_region_late_rate_is_point_in_time():
    history = _orders()
    rate = region_late_rate(history, history)
    # The first orders know no outcome yet (their predecessors' promises are still open):
    # they get the prior, not their own label.
    assert rate[0] == pytest.approx(0.5)
    late_region = history["dest_region"] == "north"
    assert rate[late_region.to_numpy()][-50:].mean() > 0.45
    assert rate[~late_region.to_numpy()][-50:].mean() < 0.2
    # Changing an order's own label never changes its own score (only later orders').
    flipped = history.copy()
    flipped.loc[300, "is_late"] = 1 - flipped.loc[300, "is_late"]
    again = region_late_rate(flipped, flipped)
    assert again[300] == rate[300]
    assert not np.allclose(again[320:], rate[320:])


def test_linear_risk_contributions_add_up_and_round_trip():
    rng = np.random.default_rng(1)
    n = 500
    matrix = np.column_stack([rng.normal(size=n), rng.integers(0, 3, n).astype(float)])
    matrix[::7, 0] = np.nan
    y = (matrix[:, 1] == 2) | (np.nan_to_num(matrix[:, 0]) > 1)
    spec = FeatureSpec(("x", "kind"), {"kind": ("a", "b", "c")})
    model = LinearRisk([0, 1], [False, True]).fit(matrix, y.astype(float))
    contributions = model.contributions(matrix, len(spec.names))
    np.testing.assert_allclose(contributions.sum(axis=1), model.logit(matrix), atol=1e-9)
    again = LinearRisk.from_dict(json.loads(json.dumps(model.as_dict())))
    np.testing.assert_allclose(again.logit(matrix), model.logit(matrix))
    from training.metrics import auc

    assert auc(y, model.predict_proba(matrix)) > 0.8


def test_gate_needs_auc_and_brier_better_than_the_best_baseline():
    baselines = {
        "promise_horizon": {"auc": 0.60, "brier": 0.20},
        "logistic_all": {"auc": 0.75, "brier": 0.15},
    }
    good = {"auc": 0.78, "brier": 0.14, "baselines": baselines}
    assert baseline_gate(good)["passed"]
    worse_brier = {"auc": 0.78, "brier": 0.16, "baselines": baselines}
    gate = baseline_gate(worse_brier)
    assert not gate["passed"] and gate["beats_auc"] and not gate["beats_brier"]
    assert gate["best_brier_baseline"] == "logistic_all"
    # Serving the logistic baseline itself (blend 0): compared with the other baselines.
    same = {"auc": 0.75, "brier": 0.149, "baselines": baselines}
    assert not baseline_gate(same)["passed"]
    assert baseline_gate(same, blend=0.0)["passed"]


def test_report_is_strict_json_without_oracle_keys():
    report = {
        "delay": {"auc": 0.7, "oracle_auc": None, "auc_ratio": None, "ece": float("nan")},
        "value": {"satisfaction": {"score": np.float64(0.1), "oracle": None, "ratio": None}},
    }
    clean = strict_json(without_oracle(report))
    text = json.dumps(clean, allow_nan=False)
    assert "oracle" not in text and "ratio" not in text
    assert clean["delay"]["ece"] is None
