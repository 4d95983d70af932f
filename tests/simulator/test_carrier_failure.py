"""The default-off ``carrier_failure`` knob of the synthetic world: one carrier fails from a day."""

from __future__ import annotations

import pandas as pd
import pytest

from simulator.world import WorldConfig, simulate_world

CONFIG = {"n_orders": 1_500, "seed": 8, "start": "2025-07-01", "days": 60}


def late_by_carrier(world: dict[str, pd.DataFrame], since: str) -> pd.Series:
    orders = world["orders"].merge(world["outcomes"][["order_id", "delivered_at"]], on="order_id")
    orders = orders[orders["created_at"] >= pd.Timestamp(since, tz="UTC")]
    return (orders["delivered_at"] > orders["promised_at"]).groupby(orders["carrier_id"]).mean()


def test_a_failing_carrier_is_late_far_more_often_and_nothing_else_changes():
    usual = simulate_world(WorldConfig(**CONFIG))
    failing = simulate_world(WorldConfig(**CONFIG, carrier_failure=("ZTO", "2025-07-10", 3.0)))
    pd.testing.assert_frame_equal(usual["orders"], failing["orders"])  # no new random draws
    before, after = late_by_carrier(usual, "2025-07-10"), late_by_carrier(failing, "2025-07-10")
    assert after["ZTO"] > before["ZTO"] + 0.1
    others = before.index != "ZTO"
    pd.testing.assert_series_equal(after[others], before[others])
    zto = failing["orders"].loc[failing["orders"]["carrier_id"] == "ZTO", "order_id"]
    oracle = failing["oracle"].set_index("order_id")["p_late"]
    assert oracle[zto].mean() > usual["oracle"].set_index("order_id")["p_late"][zto].mean()


@pytest.mark.parametrize(
    ("failure", "message"),
    [(("DHL", "2025-07-10", 3.0), "unknown carrier"), (("ZTO", "2025-07-10", 0.5), ">= 1")],
)
def test_a_bad_failure_is_refused(failure, message):
    with pytest.raises(ValueError, match=message):
        simulate_world(WorldConfig(**CONFIG, carrier_failure=failure))
