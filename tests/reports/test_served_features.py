"""The monitor judges served orders by the features the service computed for them."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_served_orders_are_read_with_the_shops_promotion_calendar(tmp_path):
    """A shop whose calendar is not the demo's: the monitor's order features of its served
    orders count days to the shop's peaks (what the model saw), not to the default ones — a
    calendar feature recomputed with another calendar would drift by construction. The world
    runs into December, where the two calendars give different days to the nearest peak."""
    from features.store import FeatureRepo, load_sources
    from features.transforms import order_attributes
    from orderlens.settings import Promotion, load_settings
    from reports.monitoring.served import scoring_features, served_predictions
    from simulator.world import WorldConfig, simulate_world
    from tests.reports.factory import ingest_world, write_prediction_log

    settings = load_settings(home=tmp_path / "home")
    shop = settings.model_copy(
        update={
            "business": settings.business.model_copy(
                update={"promotions": [Promotion(name="Black Friday", month=11, day=28)]}
            )
        }
    )
    world = simulate_world(WorldConfig(n_orders=300, seed=3, start="2025-10-25", days=45))
    ingest_world(world, shop, tmp_path / "sources")
    FeatureRepo(shop).build(load_sources(shop))
    write_prediction_log(world, shop)
    served = served_predictions(shop).head(40)
    assert len(served)

    features = scoring_features(shop, served)
    orders = served[["order_id", "created_at", "promised_at"]].assign(
        **{c: served[c] for c in ("customer_id", "order_value", "dest_region") if c in served}
    )
    expected = order_attributes(orders, shop.business.promotions)["days_to_promotion_peak"]
    default = order_attributes(orders)["days_to_promotion_peak"]
    assert features["days_to_promotion_peak"].to_numpy() == pytest.approx(expected.to_numpy())
    assert not (pd.Series(expected.to_numpy()) == pd.Series(default.to_numpy())).all()
