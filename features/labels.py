"""Labels: the delay labels and the 19 realised value targets, computed from orders + outcomes.

Pure DataFrame functions. Training, the simulator's oracle and the reports all call these, so a
dimension means the same thing everywhere (DESIGN.md "The 19 value dimensions").
"""

from __future__ import annotations

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


def value_targets(orders: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The realised value of each of the 19 dimensions, per order.

    Args:
        orders: the orders source (``order_value``, ``discount``, ``cogs``, ``freight_cost``,
            ``created_at``, ``promised_at``, ``order_id``).
        outcomes: the outcomes source with the optional value columns of the contract.

    Returns:
        ``order_id`` plus one column per dimension (names as in DESIGN.md). A dimension whose
        outcome columns are absent is all-NaN; binary dimensions are 0/1 floats.
    """
    o = orders.merge(outcomes, on="order_id", how="inner", suffixes=("", "_outcome"))
    col = _column_or_nan(o)

    fulfilment_cost = (
        o["freight_cost"] + col("packing_cost") + col("expedite_cost") + col("compensation_cost")
    )
    net_revenue = o["order_value"] - o["discount"] - col("refunded_amount")
    gross_margin = net_revenue - o["cogs"] - fulfilment_cost
    # Undiscounted orders still cost something to promote; 10% of the order value is the
    # baseline spend, so the ratio stays finite and comparable across orders.
    promotion_spend = o["discount"] + col("compensation_cost") + 0.1 * o["order_value"]

    targets = pd.DataFrame(
        {
            "order_id": o["order_id"],
            "net_revenue": net_revenue,
            "gross_margin": gross_margin,
            "fulfilment_cost": fulfilment_cost,
            "cash_conversion_days": _days_between(o["created_at"], col("cash_collected_at")),
            "promotion_efficiency": gross_margin / promotion_spend,
            "repeat_purchase_90d": _flag(col("repeat_orders_90d") > 0, col("repeat_orders_90d")),
            "ltv_uplift": col("spend_180d_after") - col("spend_180d_before"),
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
            "first_attempt_success": _flag(col("delivery_attempts") == 1, col("delivery_attempts")),
            "cross_category_pull": col("cross_category_orders_90d"),
            "service_attach": col("service_attach_revenue"),
            "partner_share": col("partner_revenue_share"),
            "carbon_kg": col("carbon_kg"),
        }
    )
    return targets[["order_id", *DIMENSION_NAMES]].reset_index(drop=True)


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
