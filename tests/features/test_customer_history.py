"""The customer's history over 90 and 365 days: exact windowed counts at every moment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.transforms.performance import customer_history

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _orders(days: list[float], customer: str = "C1") -> pd.DataFrame:
    created = [T0 + pd.Timedelta(days=d) for d in days]
    return pd.DataFrame(
        {
            "order_id": [f"{customer}-{i}" for i in range(len(days))],
            "customer_id": customer,
            "carrier_id": "K1",
            "dest_region": "R1",
            "created_at": created,
            "promised_at": [c + pd.Timedelta(days=3) for c in created],
            "order_value": 100.0,
            "discount": 10.0,
        }
    )


def _as_of(history: pd.DataFrame, when: pd.Timestamp, customer: str = "C1") -> pd.Series:
    """What a point-in-time join reads: the latest row at or before ``when``."""
    rows = history[(history["customer_id"] == customer) & (history["event_timestamp"] <= when)]
    return rows.iloc[-1]


def test_counts_are_over_their_window_and_fall_when_orders_leave_it():
    # Another customer's order on day 500: the export reaches that far.
    orders = pd.concat([_orders([0, 10, 200]), _orders([500], customer="C2")], ignore_index=True)
    history = customer_history(orders, None)
    day = lambda d: T0 + pd.Timedelta(days=d)  # noqa: E731
    at_20 = _as_of(history, day(20))
    assert at_20["cust_orders_90d"] == 2 and at_20["cust_orders_365d"] == 2
    assert at_20["cust_spend_365d"] == 180.0
    # Day 95 the first order left the 90-day window, day 101 the second: no new event needed.
    assert _as_of(history, day(95))["cust_orders_90d"] == 1
    at_101 = _as_of(history, day(101))
    assert at_101["cust_orders_90d"] == 0 and at_101["cust_orders_365d"] == 2
    # Day 201: the third order (only it within 90 days); day 369: the first left 365 days.
    assert _as_of(history, day(201))["cust_orders_90d"] == 1
    at_369 = _as_of(history, day(369))
    assert at_369["cust_orders_365d"] == 2 and at_369["cust_avg_order_value_365d"] == 90.0


def test_an_order_does_not_see_itself_and_the_late_share_counts_deliveries_in_the_window():
    orders = _orders([0, 1, 100])
    delivered = orders["promised_at"] + pd.to_timedelta([-1, 5, -1], unit="h")
    outcomes = pd.DataFrame({"order_id": orders["order_id"], "delivered_at": delivered})
    history = customer_history(orders, outcomes)
    at_creation = _as_of(history, orders["created_at"].iloc[1])
    assert at_creation["cust_orders_90d"] == 1  # the first order only
    at_50 = _as_of(history, T0 + pd.Timedelta(days=50))
    assert at_50["cust_deliveries_90d"] == 2 and at_50["cust_late_share_90d"] == 0.5
    # Day 100, as the third order is placed: both deliveries are more than 90 days old.
    at_100 = _as_of(history, orders["created_at"].iloc[2] + pd.Timedelta(hours=1))
    assert at_100["cust_deliveries_90d"] == 0 and np.isnan(at_100["cust_late_share_90d"])
    assert at_100["cust_late_share_365d"] == 0.5


def test_no_row_after_the_last_event_of_the_export():
    orders = pd.concat([_orders([0, 30]), _orders([400], customer="C2")], ignore_index=True)
    history = customer_history(orders, None)
    assert history["event_timestamp"].max() <= T0 + pd.Timedelta(days=400, microseconds=1)
    # C1's expiries up to day 400 are there: by then both orders left both windows.
    last = _as_of(history, T0 + pd.Timedelta(days=400))
    assert last["cust_orders_90d"] == 0 and last["cust_orders_365d"] == 0
