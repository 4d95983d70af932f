"""The promotion calendar is the business's, from settings: no holiday is written in the code."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.transforms.orders import days_to_promotion_peak, order_attributes, promotion_peaks
from orderlens.settings import load_settings
from tests.features.sources import good_sources


def test_the_demo_calendar_is_the_settings_default(tmp_path):
    settings = load_settings(home=tmp_path)
    assert [p.name for p in settings.business.promotions] == ["618", "Double 11", "Double 12"]
    assert promotion_peaks() == ((6, 18), (11, 11), (12, 12))


def test_a_shops_own_calendar_drives_the_feature(tmp_path):
    settings = load_settings(
        home=tmp_path,
        business={"promotions": [{"name": "Black Friday", "month": 11, "day": 28}]},
    )
    when = pd.Series(pd.to_datetime(["2025-11-20", "2025-06-10"], utc=True))
    days = days_to_promotion_peak(when, promotion_peaks(settings.business.promotions))
    assert days.tolist() == [8.0, 30.0]  # 8 days to Black Friday; far from it: clipped at 30
    assert days_to_promotion_peak(when).tolist() == [-7.0, 8.0]  # the demo's 618 and Double 11


def test_no_calendar_means_no_feature_value(tmp_path):
    settings = load_settings(home=tmp_path, business={"promotions": []})
    calendar = pd.DataFrame(
        [p.model_dump() for p in settings.business.promotions], columns=["name", "month", "day"]
    )
    features = order_attributes(good_sources()["orders"], calendar)
    assert np.isnan(features["days_to_promotion_peak"]).all()
