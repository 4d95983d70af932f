"""Reasons: every model feature maps to a business reason group; TreeSHAP contributions are summed
per group and converted to points of probability, then rendered by :mod:`orderlens.reasons`.

LightGBM's exact TreeSHAP (``pred_contrib=True``) explains the raw score (log-odds for the delay
classifier). The calibrated probability is a monotone function of that score, so each order's
log-odds contributions are rescaled to add up to ``p − p_base`` (base = the calibrated
probability at the model's expected score): signs and proportions are kept, units become points.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from orderlens.reasons import REASON_GROUPS, TRACKING_STAGES, display_name, render_reason

_EXACT_GROUPS: dict[str, str] = {
    "carrier_id": "carrier",
    "lane_on_time_rate_90d": "carrier",
    "lane_deliveries_90d": "carrier",
    "warehouse_id": "warehouse_backlog",
    "days_to_promotion_peak": "warehouse_backlog",  # promotions surge the packing backlog
    "created_hour": "warehouse_backlog",  # late-day orders wait for the next wave
    "created_dow": "warehouse_backlog",
    "dest_region": "route_distance",
    "dest_lat": "route_distance",
    "dest_lon": "route_distance",
    "route_km": "route_distance",
    "lane_mean_transit_hours_90d": "route_distance",
    "promised_hours": "promise_tightness",
    "hours_to_promise": "promise_tightness",
    "hours_since_created": "promise_tightness",
    "as_of_hour": "promise_tightness",
    "service_level": "promise_tightness",
    "last_urgency": "ticket_signals",
    "negative_share": "ticket_signals",
    "hours_since_last_ticket": "ticket_signals",
}
_PREFIX_GROUPS: tuple[tuple[str, str], ...] = (
    ("extra_", "order_profile"),  # a shop's own order columns (settings.features.order_extras)
    ("cust_tkt_", "ticket_signals"),  # before "cust_": a customer's tickets are ticket signals
    ("obs_", "weather"),
    ("fc_", "weather"),
    ("carrier_", "carrier"),
    ("lane_", "carrier"),
    ("wh_", "warehouse_backlog"),
    ("cust_", "customer_address"),
    ("trk_", "tracking_exception"),
    ("tickets", "ticket_signals"),
    ("tkt_", "ticket_signals"),
    ("ticket_", "ticket_signals"),
)
_ORDER_PROFILE = frozenset(
    {
        "channel",
        "category",
        "payment_method",
        "n_items",
        "order_value",
        "net_order_value",
        "order_margin",
        "discount_rate",
        "freight_cost",
        "margin_rate",
        "is_presale",
        "needs_customization",
        "cold_chain",
        "has_gift",
        "is_b2b",
    }
)


def reason_group(feature: str) -> str:
    """The reason group of a model feature.

    Raises:
        KeyError: for a feature no rule covers (a new feature must be given a group here).
    """
    if feature in _EXACT_GROUPS:
        return _EXACT_GROUPS[feature]
    if feature in _ORDER_PROFILE:
        return "order_profile"
    for prefix, group in _PREFIX_GROUPS:
        if feature.startswith(prefix):
            return group
    raise KeyError(f"feature {feature!r} has no reason group: add it in training/explain.py")


def group_matrix(features: Sequence[str]) -> np.ndarray:
    """``(len(features), len(REASON_GROUPS))`` 0/1 matrix: contributions @ it = per-group sums.

    Built once per feature list (read-only): every explanation asks for it, and building it
    was a sixth of the CPU of a one-order request (88 features matched against the rules).
    """
    return _group_matrix(tuple(features))


@functools.lru_cache(maxsize=64)
def _group_matrix(features: tuple[str, ...]) -> np.ndarray:
    matrix = np.zeros((len(features), len(REASON_GROUPS)))
    for i, feature in enumerate(features):
        matrix[i, REASON_GROUPS.index(reason_group(feature))] = 1.0
    matrix.flags.writeable = False
    return matrix


def probability_points(
    contributions: np.ndarray, probability: np.ndarray, base_probability: float
) -> np.ndarray:
    """Rescale raw-score contributions (``n × k``, bias column excluded) to probability points.

    Each row is scaled so it sums to ``100·(p − p_base)``; where the raw scores cancel out (sum
    ≈ 0) the local slope ``p(1−p)`` of the logistic is used instead.
    """
    total = contributions.sum(axis=1)
    delta = probability - base_probability
    slope = probability * (1.0 - probability)
    safe = np.abs(total) > 1e-6
    scale = np.where(safe, delta / np.where(safe, total, 1.0), slope)
    return 100.0 * contributions * scale[:, None]


def top_reasons(points: np.ndarray, top: int = 3, min_points: float = 0.5) -> list[list[tuple]]:
    """Per order, the ``top`` groups that raise the score most: ``[(group, points), …]``."""
    order = np.argsort(-points, axis=1)[:, :top]
    result = []
    for row, idx in zip(points, order, strict=True):
        result.append([(REASON_GROUPS[j], float(row[j])) for j in idx if row[j] >= min_points])
    return result


def reason_context(
    row: Mapping[str, Any], names: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Any]:
    """The values :func:`orderlens.reasons.render_reason` templates name, from an order's frame row
    (training-set / serving column names); missing values stay ``None``.

    Args:
        row: the order's values by column name.
        names: per column, display names of its codes (``settings.display.names``): reasons
            speak the business's words ("Home appliances", not ``home_appliances``).
    """
    names = names or {}

    def get(name: str) -> Any:
        value = row.get(name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        shown = names.get(name)
        return shown.get(str(value), value) if shown else value

    def pct(name: str, factor: float = 100.0) -> float | None:
        value = get(name)
        return None if value is None else float(value) * factor

    alert = get("fc_alert_max_72h")
    stage = get("trk_stage")
    return {
        "region": get("dest_region"),
        "alert_level": alert if alert else get("obs_alert_level_max_48h") or None,
        "alert_type": get("fc_alert_type"),
        "precip_mm": get("fc_precip_max_72h"),
        "wind_kph": get("fc_wind_max_72h"),
        "carrier": get("carrier_id"),
        "carrier_on_time_pct": pct("lane_on_time_rate_90d") or pct("carrier_on_time_rate_30d"),
        "warehouse": get("warehouse_id"),
        "backlog_pct": pct("wh_load_ratio"),
        "backlog_orders": get("wh_unpicked_orders"),
        "hours_to_promise": get("hours_to_promise"),
        "service_level": get("service_level"),
        "exception": _exception_name(get("trk_last_exception")),
        "hours_behind_plan": _hours_behind(get("trk_hours_behind_plan")),
        "tracking_stage": None if stage is None else TRACKING_STAGES.get(int(stage)),
        "category": row.get("category"),
        "category_name": None
        if get("category") is None
        else display_name(row.get("category"), names.get("category")),
        "n_items": get("n_items"),
    }


def _exception_name(code: Any) -> str | None:
    """A tracking exception in words (``weather_hold`` → "Weather hold"); ``none`` (no exception
    so far) is no exception to name."""
    if code is None or str(code) == "none":
        return None
    return display_name(code)


def _hours_behind(hours: Any) -> float | None:
    """Hours behind plan worth saying (at least half an hour late; not "0 h behind plan")."""
    return None if hours is None or float(hours) < 0.5 else float(hours)


EXTRA_SHARE = 0.25
"""A shop's extra column is named in the order-profile reason when it carries at least this
share of the group's log-odds, in the group's direction."""


def extra_traits(
    row: Mapping[str, Any],
    contributions: Mapping[str, float],
    extras: Sequence[Any],
    names: Mapping[str, Mapping[str, str]] | None = None,
    top: int = 2,
) -> str | None:
    """The shop's own order columns that drive an order's order-profile reason, in its labels:
    ``"Vendor: SCMS from RDC, pack price 3.2"``; None when none carries
    :data:`EXTRA_SHARE` of the group (the reason then speaks of the category).

    Args:
        row: the order's feature values by name (``extra_<name>`` among them).
        contributions: log-odds SHAP value of each order-profile feature of the order.
        extras: the declared :class:`~orderlens.settings.OrderExtra` columns.
        names: display names of codes per column (``settings.display.names``).
    """
    total = sum(contributions.values())
    if not total:
        return None
    driving = sorted(
        (e for e in extras if contributions.get(e.feature, 0.0) / total >= EXTRA_SHARE),
        key=lambda e: -abs(contributions[e.feature]),
    )[:top]
    parts = []
    for extra in driving:
        value = row.get(extra.feature)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            parts.append(f"{extra.display} unknown")
        elif extra.kind == "categorical":
            parts.append(f"{extra.display}: {display_name(value, (names or {}).get(extra.name))}")
        elif extra.kind == "moment":
            parts.append(f"{extra.display} {float(value):,.0f} h before the promise")
        else:
            number = float(value)
            shown = f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.4g}"
            parts.append(f"{extra.display} {shown}")
    return ", ".join(parts) or None


def render_reasons(
    reasons: Sequence[Sequence[tuple[str, float]]], frame: pd.DataFrame
) -> list[list[str]]:
    """Sentences for :func:`top_reasons` output, with each order's context from ``frame``."""
    records = frame.to_dict(orient="records")
    return [
        [render_reason(group, pts, reason_context(record)) for group, pts in order_reasons]
        for order_reasons, record in zip(reasons, records, strict=True)
    ]
