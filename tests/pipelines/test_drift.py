"""Drift on small inline frames: which columns are compared, and what counts as drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.drift import (
    comparable_columns,
    compare,
    features_from_prediction_log,
    read_drift,
    split_recent_orders,
)


def frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(n)],
            "event_timestamp": pd.Timestamp("2025-01-01", tz="UTC"),
            "order_value": rng.normal(100 + shift * 50, 20, n),
            "freight_cost": rng.normal(10 + shift * 5, 2, n),
            "channel": rng.choice(["app", "web"] if not shift else ["app", "b2b"], n),
            "trk_stage": np.nan,
        }
    )


def test_ids_timestamps_and_empty_columns_are_not_compared():
    reference, current = frame(50), frame(50).drop(columns="freight_cost")
    numerical, categorical, skipped = comparable_columns(reference, current)
    assert numerical == ["order_value"] and categorical == ["channel"]
    assert skipped == {"freight_cost": "absent from current", "trk_stage": "no values on one side"}


@pytest.mark.slow
def test_same_distribution_is_not_drift_and_a_shift_is(tmp_path):
    reference = frame(400, seed=1)
    steady = compare(reference, frame(300, seed=2), threshold=0.5)
    assert not steady.drifted and steady.drifted_columns == []
    shifted = compare(
        reference, frame(300, shift=1.0, seed=3), threshold=0.5, html_path=tmp_path / "d.html"
    )
    assert shifted.drifted and shifted.drift_share == 1.0
    assert shifted.drifted_columns == ["channel", "freight_cost", "order_value"]
    assert (tmp_path / "d.html").stat().st_size > 10_000


def test_read_drift_follows_the_test_kind():
    def value_drift(column, method, value):
        return {
            "config": {
                "type": "evidently:metric_v2:ValueDrift",
                "column": column,
                "method": method,
                "threshold": 0.1,
            },
            "value": value,
        }

    snapshot = {
        "metrics": [
            {
                "config": {"type": "evidently:metric_v2:DriftedColumnsCount"},
                "value": {"count": 2, "share": 0.5},
            },
            value_drift("a", "K-S p_value", 0.01),  # p-value below the threshold: drift
            value_drift("b", "K-S p_value", 0.50),
            value_drift("c", "Wasserstein distance (normed)", 0.30),  # distance above: drift
            value_drift("d", "Wasserstein distance (normed)", 0.05),
        ]
    }
    assert read_drift(snapshot) == (0.5, ["a", "c"])
    with pytest.raises(ValueError, match="DriftedColumnsCount"):
        read_drift({"metrics": []})


def test_prediction_log_rows_become_the_store_features():
    from features.transforms import order_attributes
    from tests.features.sources import good_sources

    orders = good_sources()["orders"]
    log = pd.concat([orders, orders.tail(1)], ignore_index=True).assign(p_late=0.3)
    features = features_from_prediction_log(log)  # a re-scored order counts once
    pd.testing.assert_frame_equal(features, order_attributes(orders))


def test_recent_orders_always_leave_a_reference():
    orders = pd.DataFrame(
        {"order_id": list("abcd"), "created_at": pd.date_range("2025-01-01", periods=4, tz="UTC")}
    )
    older, recent = split_recent_orders(orders, 3)
    assert list(recent["order_id"]) == ["c", "d"] and list(older["order_id"]) == ["a", "b"]
