"""The shop's own columns in the order-profile reason: named by their labels when they drive it."""

from __future__ import annotations

import math

from orderlens.reasons import render_reason
from orderlens.settings import OrderExtra
from training.explain import extra_traits

EXTRAS = (
    OrderExtra(name="vendor", kind="categorical", label="Vendor"),
    OrderExtra(name="pack_price", kind="numeric", label="Pack price"),
    OrderExtra(name="po_sent_at", kind="moment", label="PO sent"),
)
ROW = {"extra_vendor": "ACME Pharma", "extra_pack_price": 3.25, "extra_po_sent_at": 312.4}


def test_the_driving_extras_are_named_largest_first():
    contributions = {"extra_vendor": 0.3, "extra_pack_price": 0.5, "category": 0.1}
    assert extra_traits(ROW, contributions, EXTRAS) == "Pack price 3.25, Vendor: ACME Pharma"


def test_an_extra_pushing_the_other_way_or_too_little_is_not_named():
    contributions = {"extra_vendor": -0.2, "extra_pack_price": 0.05, "category": 0.9}
    assert extra_traits(ROW, contributions, EXTRAS) is None
    text = render_reason("order_profile", 12.0, {"category_name": "ARV", "shop_traits": None})
    assert text == "ARV (+12 pts)"  # falls back to the category


def test_a_moment_reads_as_a_lead_time_and_a_missing_value_as_unknown():
    contributions = {"extra_po_sent_at": 0.5, "extra_pack_price": 0.4}
    row = {**ROW, "extra_pack_price": math.nan}
    traits = extra_traits(row, contributions, EXTRAS)
    assert traits == "PO sent 312 h before the promise, Pack price unknown"
    assert render_reason("order_profile", 7.0, {"shop_traits": traits}).startswith("PO sent 312 h")
    large = {**ROW, "extra_pack_price": 13430.0}
    assert extra_traits(large, {"extra_pack_price": 1.0}, EXTRAS) == "Pack price 13,430"
    display = {"vendor": {"ACME Pharma": "Acme"}}
    assert extra_traits(ROW, {"extra_vendor": 1.0}, EXTRAS, display) == "Vendor: Acme"
