"""Labels: delay labels and the 19 value targets from orders + outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import delay_labels, value_targets
from orderlens.dimensions import BY_NAME, DIMENSION_NAMES, DIMENSIONS, QUADRANTS
from tests.features.sources import good_sources, hours


def test_registry_has_19_dimensions_in_four_quadrants():
    assert len(DIMENSIONS) == 19
    assert {d.quadrant for d in DIMENSIONS} == set(QUADRANTS)
    assert BY_NAME["fulfilment_cost"].higher_is_better is False
    assert BY_NAME["on_time_delivery"].metric == "auc"
    assert BY_NAME["gross_margin"].metric == "r2"


def test_delay_labels():
    tables = good_sources()
    outcomes = tables["outcomes"].copy()
    outcomes.loc[1, "delivered_at"] = hours(49 + 5.5)  # O2 promised at +49 h
    labels = delay_labels(tables["orders"], outcomes).set_index("order_id")
    assert labels.loc["O1", "is_late"] == 0 and labels.loc["O1", "delay_hours"] == 0
    assert labels.loc["O2", "is_late"] == 1
    assert np.isclose(labels.loc["O2", "delay_hours"], 5.5)


def test_value_targets_follow_their_definitions():
    tables = good_sources()
    outcomes = tables["outcomes"].assign(
        refunded_amount=[10.0, 0.0],
        packing_cost=[2.0, 5.0],
        expedite_cost=[0.0, 0.0],
        compensation_cost=[5.0, 0.0],
        repeat_orders_90d=[0, 3],
        cash_collected_at=[hours(48), hours(97)],
    )
    targets = value_targets(tables["orders"], outcomes).set_index("order_id")
    assert list(targets.columns) == list(DIMENSION_NAMES)
    o1 = targets.loc["O1"]
    assert o1["net_revenue"] == 399 - 20 - 10
    assert o1["fulfilment_cost"] == 12 + 2 + 0 + 5
    assert o1["gross_margin"] == (399 - 20 - 10) - 250 - 19
    assert np.isclose(o1["promotion_efficiency"], o1["gross_margin"] / (20 + 5 + 39.9))
    assert o1["cash_conversion_days"] == 2
    assert (o1["repeat_purchase_90d"], targets.loc["O2", "repeat_purchase_90d"]) == (0, 1)
    assert o1["on_time_delivery"] == 1
    assert (o1["exchange_avoidance"], targets.loc["O2", "exchange_avoidance"]) == (1, 0)
    assert (o1["first_attempt_success"], targets.loc["O2", "first_attempt_success"]) == (1, 0)


def test_absent_outcome_columns_give_missing_targets_not_zeros():
    tables = good_sources()
    outcomes = tables["outcomes"][["order_id", "delivered_at"]]
    targets = value_targets(tables["orders"], outcomes)
    assert targets["referral_leads"].isna().all()
    assert targets["repeat_purchase_90d"].isna().all()
    assert targets["on_time_delivery"].notna().all()
    assert isinstance(targets, pd.DataFrame)


def test_marketplace_export_lights_up_seven_dimensions_from_its_history():
    """Orders (with freight), deliveries and reviews only: targets come from the order history."""
    day = pd.Timedelta(days=1)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    orders = pd.DataFrame(
        {
            "order_id": ["A1", "A2", "A3", "B1", "LAST"],
            "customer_id": ["a", "a", "a", "b", "c"],
            "created_at": [start, start + 30 * day, start + 100 * day, start, start + 400 * day],
            "order_value": [100.0, 50.0, 80.0, 20.0, 10.0],
            "freight_cost": [5.0, 4.0, 6.0, 3.0, 1.0],
            "category": ["books", "toys", "books", "books", "books"],
        }
    )
    orders["promised_at"] = orders["created_at"] + 5 * day
    outcomes = pd.DataFrame(
        {
            "order_id": ["A1", "A2", "A3", "B1", "LAST"],
            "delivered_at": orders["created_at"] + pd.to_timedelta([3, 7, 4, 2, 1], unit="D"),
            "review_score": [5.0, 2.0, 4.0, 5.0, None],
            # The lake hands back every contract column: null where no source had it.
            "repeat_orders_90d": [None] * 5,
        }
    )
    targets = value_targets(orders, outcomes).set_index("order_id")
    available = [d for d in DIMENSION_NAMES if targets[d].notna().any()]
    assert len(available) >= 7, available
    a1 = targets.loc["A1"]
    assert a1["repeat_purchase_90d"] == 1  # A2 30 days later
    assert a1["cross_category_pull"] == 1  # toys after books
    assert a1["ltv_uplift"] == 50 + 80  # spend in the 180 days after, none before
    assert targets.loc["A3", "ltv_uplift"] == 0 - (100 + 50)
    assert targets.loc["B1", "repeat_purchase_90d"] == 0
    assert a1["net_revenue"] == 100 and a1["fulfilment_cost"] == 5
    assert targets.loc["A2", "on_time_delivery"] == 0
    # The newest order's 90-day window is not observed yet: censored, not "no repeat".
    assert np.isnan(targets.loc["LAST", "repeat_purchase_90d"])
    assert targets["gross_margin"].isna().all()  # no COGS: not available, never zeros
