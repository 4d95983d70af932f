"""The reports' numbers add up: shares sum to 100%, counts match the prediction log, regions and
scores are what they claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from reports.data import midrank_scores, regions
from reports.health_page import fired_actions, risk_by, service_health
from reports.value_page import attribution, predicted_mix

pytestmark = pytest.mark.integration


def test_regions_of_known_and_unknown_cities():
    # A destination outside the demo's city list (a shop's own data) is a region of its own.
    cities = pd.Series(["Beijing", "Guangzhou", "Dongguan", None])
    assert regions(cities).tolist() == ["North", "South", "Dongguan", "Other"]


def test_midrank_scores_respect_direction():
    values = pd.Series([1.0, 2.0, 3.0, np.nan])
    higher = midrank_scores(values, values, higher_is_better=True)
    lower = midrank_scores(values, values, higher_is_better=False)
    assert higher.iloc[0] < higher.iloc[1] < higher.iloc[2]
    assert lower.iloc[0] > lower.iloc[2]
    assert np.isnan(higher.iloc[3])


def test_attribution_shares_sum_to_one(served_home):
    from reports.data import load_inputs

    settings, world = served_home
    realised = load_inputs(settings).realised
    assert len(realised) == len(world["outcomes"])
    for segment in ("channel", "category", "region", "carrier_id"):
        table = attribution(realised, segment)
        assert table["orders"].sum() == len(realised)
        shares = table.filter(like="share_")
        expected = [f"share_{d.name}" for d in DIMENSIONS] + [
            f"share_quadrant_{q}" for q in QUADRANTS
        ]
        assert set(expected) <= set(shares.columns)
        np.testing.assert_allclose(shares.sum(), 1.0, atol=1e-9)


def test_repeat_purchase_share_counts_repeat_buyers():
    realised = pd.DataFrame(
        {"channel": ["app", "app", "web", "web"], "repeat_purchase_90d": [1.0, 1.0, 1.0, 0.0]}
        | {d.name: 1.0 for d in DIMENSIONS if d.name != "repeat_purchase_90d"}
        | {f"quadrant_{q}": 50.0 for q in QUADRANTS}
    )
    table = attribution(realised, "channel")
    assert table.loc["app", "share_repeat_purchase_90d"] == pytest.approx(2 / 3)
    assert table.loc["app", "share_orders"] == pytest.approx(0.5)


def test_health_counts_match_the_prediction_log(served_home):
    from orderlens.records import read_prediction_log
    from tests.reports.factory import ERROR_EVERY, served_orders

    settings, world = served_home
    log = read_prediction_log(settings)
    assert len(log) == len(served_orders(world))
    health = service_health(log)
    requests = log["request_id"].nunique()
    assert health["requests"] == requests
    assert health["error_requests"] == requests // ERROR_EVERY
    assert health["latency_p50_ms"] <= health["latency_p99_ms"]
    ok = log[log["status"] == "ok"]
    for segment in ("dest_region", "carrier_id", "warehouse_id"):
        table = risk_by(ok.assign(), segment, pd.DataFrame())
        assert table["orders"].sum() == len(ok)
    fired = ok["actions_fired"].str.split("|").explode()
    assert fired_actions(log)["fired"].sum() == (fired.str.len() > 0).sum()


def test_tier_mix_sums_to_one(served_home):
    from reports.data import load_inputs

    predictions = load_inputs(served_home[0]).predictions
    mix = predicted_mix(predictions, "channel")
    assert mix["orders"].sum() == len(predictions)
    np.testing.assert_allclose(mix[["platinum", "gold", "silver", "standard"]].sum(axis=1), 1.0)


def test_calibration_table_bins_every_order():
    from reports.model_card import calibration_table

    p = np.array([0.05, 0.07, 0.55, 0.95, 1.0])
    y = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    table = calibration_table(y, p, bins=10)
    assert table["n"].sum() == len(p)
    assert table.loc[0, "predicted"] == pytest.approx(0.06)
    assert table.loc[0, "observed"] == pytest.approx(0.5)
    assert table.loc[9, "n"] == 2  # p = 1.0 falls in the top bin, not past it
