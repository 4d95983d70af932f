"""A shop's declared extra order columns as features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.transforms.orders import order_attributes
from orderlens.settings import OrderExtra
from tests.features.sources import good_sources


def test_declared_extra_columns_become_order_features():

    orders = good_sources()["orders"].assign(
        seller_region=["SP", None], product_weight_g=["1200", "n/a"]
    )
    extras = (
        OrderExtra(name="seller_region", kind="categorical", label="Seller region"),
        OrderExtra(name="product_weight_g", kind="numeric"),
        OrderExtra(name="installments", kind="numeric"),  # declared, absent from this export
    )
    features = order_attributes(orders, extras=extras)
    assert list(features["extra_seller_region"]) == ["SP", None]
    assert features["extra_product_weight_g"].iloc[0] == 1200
    assert np.isnan(features["extra_product_weight_g"].iloc[1])  # unparseable: missing
    assert features["extra_installments"].isna().all()


def test_a_declared_moment_becomes_hours_before_the_promise_not_a_date():
    orders = good_sources()["orders"]
    orders = orders.assign(
        po_sent_at=[orders["promised_at"].iloc[0] - pd.Timedelta(hours=30), None]
    )
    features = order_attributes(orders, extras=(OrderExtra(name="po_sent_at", kind="moment"),))
    assert features["extra_po_sent_at"].iloc[0] == 30
    assert np.isnan(features["extra_po_sent_at"].iloc[1])
