"""Reason texts: specific when the context allows, a sentence whatever the context."""

from __future__ import annotations

import pytest

from orderlens.reasons import REASON_GROUPS, display_name, format_contribution, render_reason
from serving.schemas import Reason


def test_the_design_example():
    context = {"region": "Zhengzhou", "alert_level": 4, "alert_type": "rainstorm"}
    assert render_reason("weather", 21.3, context) == (
        "Red rainstorm alert in Zhengzhou during transit (+21 pts)"
    )


def test_falls_back_when_values_are_missing_or_none():
    assert render_reason("weather", 5, {"region": "Harbin", "alert_level": 0}) == (
        "Weather along the route to Harbin (+5 pts)"
    )
    assert render_reason("carrier", 8, {"carrier": "ZTO", "lane_delay_hours": None}) == (
        "Recent performance of carrier ZTO (+8 pts)"
    )
    assert render_reason("tracking_exception", 12, {"hours_behind_plan": 7.6}) == (
        "Parcel is 8 h behind plan (+12 pts)"
    )


@pytest.mark.parametrize("group", REASON_GROUPS)
def test_every_group_renders_without_context(group: str):
    text = render_reason(group, 3.0, {})
    assert text.endswith("(+3 pts)")
    assert text[0].isupper()
    Reason(group=group, text=text, contribution=3.0)  # a valid response reason


def test_contribution_formatting():
    assert format_contribution(21.4) == "+21 pts"
    assert format_contribution(-5.0) == "\u22125 pts"
    assert format_contribution(1.2) == "+1 pt"
    assert format_contribution(0.2) == "<1 pt"


def test_reasons_speak_the_business_words():
    """Display names for codes, units spelled out, singular and plural."""
    order = {"category": "home_appliances", "n_items": 2}
    assert render_reason("order_profile", 3.2, order) == "Home appliances, 2 items (+3 pts)"
    assert render_reason("order_profile", 1, {"category": "toys", "n_items": 1}) == (
        "Toys, 1 item (+1 pt)"
    )
    # A shop's own spelling is kept; settings may name any code.
    assert render_reason("order_profile", 2, {"category": "Mercado Livre"}) == (
        "Mercado Livre (+2 pts)"
    )
    assert display_name("home_appliances", {"home_appliances": "Large appliances"}) == (
        "Large appliances"
    )
    backlog = {"warehouse": "WH-WUH", "backlog_pct": 209.4}
    assert render_reason("warehouse_backlog", 1.1, backlog) == (
        "Warehouse WH-WUH at 209 % of packing capacity (+1 pt)"
    )


def test_reason_context_uses_the_display_names_of_settings():
    from training.explain import reason_context

    row = {"category": "home_appliances", "carrier_id": "ZTO", "n_items": 2}
    context = reason_context(row, {"carrier_id": {"ZTO": "ZTO Express"}})
    assert context["carrier"] == "ZTO Express"
    assert render_reason("order_profile", 4, context) == "Home appliances, 2 items (+4 pts)"


@pytest.mark.parametrize(
    ("tracking", "text"),
    [
        # An order an hour old: no scan yet, no exception ("none"), on plan.
        (
            {"trk_stage": 0, "trk_last_exception": "none", "trk_hours_behind_plan": 0.0},
            "Parcel not yet picked up by the carrier (+9 pts)",
        ),
        (
            {"trk_stage": 3, "trk_last_exception": "none", "trk_hours_behind_plan": 7.6},
            "Parcel is 8 h behind plan (+9 pts)",
        ),
        (
            {"trk_stage": 3, "trk_last_exception": "weather_hold", "trk_hours_behind_plan": 2.0},
            "Tracking exception (Weather hold) (+9 pts)",
        ),
        ({}, "Tracking progress of the parcel (+9 pts)"),
    ],
)
def test_the_tracking_reason_says_where_the_parcel_is(tracking: dict, text: str):
    """Not "Tracking exception (none)" for a parcel without one, nor "0 h behind plan"."""
    from training.explain import reason_context

    assert render_reason("tracking_exception", 9.2, reason_context(tracking)) == text


def test_unknown_group_is_an_error():
    with pytest.raises(KeyError, match="unknown reason group"):
        render_reason("astrology", 1.0, {})
