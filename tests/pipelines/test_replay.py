"""The replay's moments and requests on small inline frames (the replay itself runs in the
monitor and daily-flow tests)."""

from __future__ import annotations

import pandas as pd

from pipelines.replay import request_rounds, scoring_moments

T0 = pd.Timestamp("2025-05-01", tz="UTC")


def orders() -> pd.DataFrame:
    hours = pd.to_timedelta([0, 20, 30, 50], unit="h")
    return pd.DataFrame(
        {
            "order_id": ["a", "b", "c", "d"],
            "customer_id": ["x", "y", "z", "x"],
            "carrier_id": "SF",
            "warehouse_id": "W1",
            "dest_region": "Shanghai",
            "created_at": T0 + hours,
            "promised_at": T0 + hours + pd.Timedelta(days=3),
        }
    )


def test_moments_are_the_creations_and_scans_inside_the_period():
    tracking = pd.DataFrame(
        {
            "order_id": ["a", "a", "b", "c"],
            "event_time": T0 + pd.to_timedelta([5, 26, 22, 60], unit="h"),
            "event_type": ["picked", "arrived_hub", "exception", "picked"],
        }
    )
    outcomes = pd.DataFrame({"order_id": ["a"], "delivered_at": [T0 + pd.Timedelta(hours=25)]})
    day_two = scoring_moments(
        orders(), tracking, outcomes, T0 + pd.Timedelta(days=1), T0 + pd.Timedelta(days=2)
    )
    stages = list(zip(day_two["order_id"], day_two["snapshot_stage"], strict=True))
    # a's hub scan came after its delivery; b's exception is not a scoring scan; c was created
    # and d comes later; c's pick (hour 60) is on day three.
    assert stages == [("c", "created")]
    day_one = scoring_moments(orders(), tracking, outcomes, T0, T0 + pd.Timedelta(days=1))
    assert list(day_one["snapshot_stage"]) == ["created", "picked", "created"]
    assert (day_one["as_of"] < T0 + pd.Timedelta(days=1)).all()


def test_requests_never_repeat_an_order_and_keep_days_apart():
    moments = pd.DataFrame(
        {
            "order_id": ["a", "a", "b", "a", "c"],
            "as_of": T0 + pd.to_timedelta([1, 2, 3, 30, 31], unit="h"),
        }
    )
    rounds = request_rounds(moments, size=10)
    assert [list(moments["order_id"].iloc[r]) for r in rounds] == [["a", "b"], ["a"], ["a", "c"]]
    assert sorted(i for r in rounds for i in r) == list(range(5))
