"""Labels: the delay labels and the 19 realised value targets, computed from orders + outcomes.

Pure DataFrame functions. Training, the simulator's oracle and the reports all call these, so a
dimension means the same thing everywhere (DESIGN.md "The 19 value dimensions").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from orderlens.dimensions import DIMENSION_NAMES

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def delay_labels(orders: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Delay labels per order.

    Args:
        orders: at least ``order_id``, ``promised_at``.
        outcomes: at least ``order_id``, ``delivered_at``.

    Returns:
        One row per order that has an outcome: ``order_id``, ``is_late`` (0/1, delivered after
        the promise) and ``delay_hours`` (hours after the promise, 0 when on time).
    """
    frame = orders[["order_id", "promised_at"]].merge(
        outcomes[["order_id", "delivered_at"]], on="order_id", how="inner"
    )
    late_by = (frame["delivered_at"] - frame["promised_at"]) / HOUR
    return pd.DataFrame(
        {
            "order_id": frame["order_id"].to_numpy(),
            "is_late": (late_by > 0).astype("int8").to_numpy(),
            "delay_hours": late_by.clip(lower=0).to_numpy(),
        }
    )


def value_targets(
    orders: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
    tracking: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The realised value of each of the 19 dimensions, per order.

    A dimension comes from the outcome columns that name it when they are given (the demo's
    world writes them all); otherwise it is derived from the order history wherever that
    suffices — repeat purchase within 90 days, change in 180-day spend and later purchases in
    other categories from the customer's other orders, first-attempt success from the tracking
    scans, net revenue from the order's value (less discount and refunds where known). Where
    neither exists the dimension is all-NaN: "not available", never zeros.

    Args:
        orders: the orders to label (``order_id``, ``customer_id``, ``created_at``,
            ``promised_at``, ``order_value``; optional ``discount``, ``cogs``,
            ``freight_cost``, ``category``).
        outcomes: the outcomes source with the optional value columns of the contract.
        history: every order of the shop (default ``orders``): a customer's later orders count
            even when only a sample of orders is labelled. Its newest ``created_at`` is the end
            of what is observed: an order whose 90- or 180-day window runs past it has no
            customer-history target yet (censored, NaN).
        tracking: the tracking source (first-attempt success from ``out_for_delivery`` scans).

    Returns:
        ``order_id`` plus one column per dimension (names as in DESIGN.md). Binary dimensions
        are 0/1 floats.
    """
    o = orders.merge(outcomes, on="order_id", how="inner", suffixes=("", "_outcome"))
    col = _column_or_nan(o)
    order_col = _column_or_nan(o)
    # Money the orders table may lack: no discount column means no discounts; refunds unknown
    # count as none (net revenue stays available); COGS and freight have no stand-in.
    discount = _or_zero(o, "discount")
    refunds = _or_zero(o, "refunded_amount")
    fulfilment_cost = (
        order_col("freight_cost")
        + _or_zero(o, "packing_cost")
        + _or_zero(o, "expedite_cost")
        + _or_zero(o, "compensation_cost")
    )
    net_revenue = o["order_value"] - discount - refunds
    gross_margin = net_revenue - order_col("cogs") - fulfilment_cost
    # Undiscounted orders still cost something to promote; 10% of the order value is the
    # baseline spend, so the ratio stays finite and comparable across orders.
    promotion_spend = discount + _or_zero(o, "compensation_cost") + 0.1 * o["order_value"]
    derived = _history_targets(o, orders if history is None else history)

    def given(name: str) -> bool:
        # The lake hands back every contract column, null where no source had it.
        return name in o.columns and bool(o[name].notna().any())

    def outcome_or(name: str, fallback: pd.Series) -> pd.Series:
        return col(name) if given(name) else fallback

    repeat = outcome_or("repeat_orders_90d", derived["repeat_orders_90d"])
    attempts = outcome_or("delivery_attempts", _delivery_attempts(o, tracking))
    if given("spend_180d_after") and given("spend_180d_before"):
        ltv_uplift = col("spend_180d_after") - col("spend_180d_before")
    else:
        ltv_uplift = derived["ltv_uplift"]
    targets = pd.DataFrame(
        {
            "order_id": o["order_id"],
            "net_revenue": net_revenue,
            "gross_margin": gross_margin,
            "fulfilment_cost": fulfilment_cost,
            "cash_conversion_days": _days_between(o["created_at"], col("cash_collected_at")),
            "promotion_efficiency": gross_margin / promotion_spend,
            "repeat_purchase_90d": _flag(repeat > 0, repeat),
            "ltv_uplift": ltv_uplift,
            "profile_enrichment": col("profile_tags_gained"),
            "referral_leads": col("referrals"),
            "satisfaction": col("review_score"),
            "on_time_delivery": _flag(o["delivered_at"] <= o["promised_at"], o["delivered_at"]),
            "exchange_avoidance": _flag(
                ~(col("returned").astype(bool) | col("exchanged").astype(bool)),
                col("returned") + col("exchanged"),
            ),
            "reverse_logistics_cost": col("reverse_logistics_cost"),
            "service_effort_minutes": col("service_minutes"),
            "first_attempt_success": _flag(attempts == 1, attempts),
            "cross_category_pull": outcome_or(
                "cross_category_orders_90d", derived["cross_category_orders_90d"]
            ),
            "service_attach": col("service_attach_revenue"),
            "partner_share": col("partner_revenue_share"),
            "carbon_kg": col("carbon_kg"),
        }
    )
    return targets[["order_id", *DIMENSION_NAMES]].reset_index(drop=True)


TARGET_SOURCES = {
    "net_revenue": "orders.order_value (less discount and outcomes.refunded_amount where given)",
    "gross_margin": "orders.cogs and orders.freight_cost",
    "fulfilment_cost": "orders.freight_cost",
    "cash_conversion_days": "outcomes.cash_collected_at",
    "promotion_efficiency": "orders.cogs and orders.freight_cost (gross margin)",
    "repeat_purchase_90d": "orders over 90 days after the order (customer_id)",
    "ltv_uplift": "orders over 180 days before and after the order (customer_id)",
    "profile_enrichment": "outcomes.profile_tags_gained",
    "referral_leads": "outcomes.referrals",
    "satisfaction": "outcomes.review_score",
    "on_time_delivery": "outcomes.delivered_at",
    "exchange_avoidance": "outcomes.returned and outcomes.exchanged",
    "reverse_logistics_cost": "outcomes.reverse_logistics_cost",
    "service_effort_minutes": "outcomes.service_minutes",
    "first_attempt_success": "outcomes.delivery_attempts or tracking out_for_delivery scans",
    "cross_category_pull": "orders.category over 90 days after the order",
    "service_attach": "outcomes.service_attach_revenue",
    "partner_share": "outcomes.partner_revenue_share",
    "carbon_kg": "outcomes.carbon_kg",
}
"""What each dimension's realised target is computed from (said when it is not available)."""


def dimension_availability(
    targets: pd.DataFrame, modelled: Collection[str], min_rows: int = 10
) -> dict[str, Any]:
    """Which value dimensions a model set has, and for the others why not.

    Args:
        targets: a value training set (one column per dimension).
        modelled: the dimensions that got a model.
        min_rows: fewer realised targets than this count as none.

    Returns:
        ``available`` (dimension names) and ``not_available`` (dimension → reason).
    """
    missing = {}
    for name in DIMENSION_NAMES:
        if name in modelled:
            continue
        known = int(targets[name].notna().sum()) if name in targets else 0
        if known < min_rows:
            missing[name] = f"no realised target in the data (needs {TARGET_SOURCES[name]})"
        else:
            missing[name] = f"only {known} orders with a realised target: not modelled"
    return {"available": [n for n in DIMENSION_NAMES if n in modelled], "not_available": missing}


REPEAT_WINDOW = pd.Timedelta(days=90)
SPEND_WINDOW = pd.Timedelta(days=180)


def _history_targets(labelled: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Customer-history targets of each labelled order, from the shop's orders: later orders
    within 90 days, later orders in another category within 90 days, and 180-day spend after
    minus 180-day spend before (NaN where the window runs past the newest order seen)."""
    index = labelled.index
    empty = pd.DataFrame(
        np.nan,
        index=index,
        columns=["repeat_orders_90d", "cross_category_orders_90d", "ltv_uplift"],
    )
    if "customer_id" not in history or history.empty:
        return empty
    end = history["created_at"].max()
    spend = history["order_value"] - (
        history["discount"].fillna(0.0) if "discount" in history else 0.0
    )
    past = pd.DataFrame(
        {
            "customer_id": history["customer_id"].to_numpy(),
            "other_order": history["order_id"].to_numpy(),
            "t": history["created_at"].to_numpy(),
            "spend": spend.to_numpy(),
            "other_category": (history["category"].to_numpy() if "category" in history else np.nan),
        }
    )
    own = pd.DataFrame(
        {
            "row": np.arange(len(labelled)),
            "order_id": labelled["order_id"].to_numpy(),
            "customer_id": labelled["customer_id"].to_numpy(),
            "t0": labelled["created_at"].to_numpy(),
            "category": labelled["category"].to_numpy() if "category" in labelled else np.nan,
        }
    )
    pairs = own.merge(past, on="customer_id")
    pairs = pairs[pairs["other_order"] != pairs["order_id"]]
    gap = pairs["t"] - pairs["t0"]
    later_90 = (gap > pd.Timedelta(0)) & (gap <= REPEAT_WINDOW)
    after = (gap > pd.Timedelta(0)) & (gap <= SPEND_WINDOW)
    before = (gap < pd.Timedelta(0)) & (gap >= -SPEND_WINDOW)
    other_category = (
        later_90
        & pairs["other_category"].notna()
        & (pairs["other_category"].astype(str) != pairs["category"].astype(str))
    )
    sums = (
        pd.DataFrame(
            {
                "row": pairs["row"],
                "repeat": later_90.astype(float),
                "cross": other_category.astype(float),
                "uplift": pairs["spend"].where(after, 0.0) - pairs["spend"].where(before, 0.0),
            }
        )
        .groupby("row")[["repeat", "cross", "uplift"]]
        .sum()
    )
    sums = sums.reindex(np.arange(len(labelled)), fill_value=0.0)
    t0 = pd.Series(own["t0"].to_numpy(), index=index)
    seen_90 = (t0 + REPEAT_WINDOW <= end).to_numpy()
    seen_180 = (t0 + SPEND_WINDOW <= end).to_numpy()
    out = pd.DataFrame(
        {
            "repeat_orders_90d": np.where(seen_90, sums["repeat"].to_numpy(), np.nan),
            "cross_category_orders_90d": np.where(
                seen_90 & ("category" in labelled), sums["cross"].to_numpy(), np.nan
            ),
            "ltv_uplift": np.where(seen_180, sums["uplift"].to_numpy(), np.nan),
        },
        index=index,
    )
    return out


def _delivery_attempts(labelled: pd.DataFrame, tracking: pd.DataFrame | None) -> pd.Series:
    """Delivery attempts of each delivered order from its ``out_for_delivery`` scans (NaN
    without tracking, or for an order never scanned out for delivery)."""
    if tracking is None or tracking.empty or "event_type" not in tracking:
        return pd.Series(np.nan, index=labelled.index, dtype="float64")
    rounds = tracking[tracking["event_type"] == "out_for_delivery"].groupby("order_id").size()
    attempts = labelled["order_id"].map(rounds).astype("float64")
    return attempts.where(labelled["delivered_at"].notna())


def _or_zero(frame: pd.DataFrame, name: str) -> pd.Series:
    """An optional money column, missing as 0 (absent column: all 0)."""
    if name not in frame.columns:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[name], errors="coerce").fillna(0.0)


def _column_or_nan(frame: pd.DataFrame):
    """A getter that returns an all-NaN float column when an optional outcome is absent."""

    def get(name: str) -> pd.Series:
        if name in frame.columns:
            series = frame[name]
            if series.dtype == bool or str(series.dtype) == "boolean":
                return series.astype("float64")
            return series
        return pd.Series(np.nan, index=frame.index, dtype="float64")

    return get


def _days_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Days from ``start`` to ``end``; NaN where ``end`` is unknown (or absent altogether)."""
    if not pd.api.types.is_datetime64_any_dtype(end):
        return pd.Series(np.nan, index=start.index, dtype="float64")
    return (end - start) / DAY


def _flag(condition: pd.Series, source: pd.Series) -> pd.Series:
    """A 0/1 float flag that stays NaN where the source value is missing."""
    return condition.astype("float64").where(source.notna())
