"""Business reason groups and their plain-language texts: the one place both live.

Training maps every model feature to one of :data:`REASON_GROUPS` and sums the feature's SHAP
contributions per group; serving turns each group's sum into a sentence with
:func:`render_reason`, e.g. ``"Red rainstorm alert in Zhengzhou during transit (+21 pts)"``.

Each group has a few templates, most specific first. A template is used when every value it names
is present (not ``None``) in the order's context; the last template of each group names nothing,
so a sentence always comes out. Contributions are in points of a 0–100 scale (for delay: points of
late probability, ``0.21`` probability → ``21`` points).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from orderlens.vocab import ALERT_LEVEL_NAMES

ReasonGroup = Literal[
    "weather",
    "carrier",
    "warehouse_backlog",
    "route_distance",
    "promise_tightness",
    "customer_address",
    "tracking_exception",
    "order_profile",
    "ticket_signals",
]
REASON_GROUPS: tuple[ReasonGroup, ...] = get_args(ReasonGroup)

# Templates per group, most specific first. Context keys (all optional):
#   region (destination), origin_region, alert_level (0-4) or alert_level_name, alert_type, precip_mm, wind_kph,
#   carrier, carrier_on_time_pct, lane_delay_hours, warehouse, backlog_pct, backlog_orders,
#   distance_km, hours_to_promise, service_level, address_issue_rate_pct, exception, hub,
#   hours_behind_plan (from half an hour late), tracking_stage (a TRACKING_STAGES text),
#   category (or its display name, category_name), n_items, order_traits,
#   shop_traits (the shop's own order columns that drive the reason, by their labels),
#   ticket_intent, open_tickets.
_TEMPLATES: dict[ReasonGroup, tuple[str, ...]] = {
    "weather": (
        "{alert_level_name} {alert_type} alert in {region} during transit",
        "{alert_type} alert in {region} during transit",
        "Heavy rain ({precip_mm:.0f} mm) expected in {region}",
        "Strong wind ({wind_kph:.0f} km/h) expected in {region}",
        "Weather along the route to {region}",
        "Weather along the route",
    ),
    "carrier": (
        "{carrier} is running {lane_delay_hours:.0f} h late on this lane",
        "{carrier} delivers {carrier_on_time_pct:.0f} % on time on this lane",
        "Recent performance of carrier {carrier}",
        "Recent carrier performance",
    ),
    "warehouse_backlog": (
        "Warehouse {warehouse} at {backlog_pct:.0f} % of packing capacity",
        "{backlog_orders:,.0f} orders waiting to be packed at warehouse {warehouse}",
        "Packing backlog at warehouse {warehouse}",
        "Packing backlog at the warehouse",
    ),
    "route_distance": (
        "Long route: {distance_km:,.0f} km from {origin_region} to {region}",
        "Long route: {distance_km:,.0f} km to {region}",
        "Route to {region}",
        "Route and distance",
    ),
    "promise_tightness": (
        "Tight promise: {hours_to_promise:.0f} h left for {service_level} delivery",
        "Tight promise: {hours_to_promise:.0f} h left",
        "Tight {service_level} delivery promise",
        "Tight delivery promise",
    ),
    "customer_address": (
        "{address_issue_rate_pct:.0f} % of past deliveries to this address had problems",
        "Delivery address in {region} is hard to reach",
        "Customer address and delivery history",
    ),
    "tracking_exception": (
        "Tracking exception ({exception}) at {hub}",
        "Tracking exception ({exception})",
        "Parcel is {hours_behind_plan:.0f} h behind plan",
        "Parcel {tracking_stage}",
        "Tracking progress of the parcel",
    ),
    "order_profile": (
        "{shop_traits}",
        "{category_name} needing {order_traits}",
        "{category_name}, {items}",
        "{category_name}",
        "Order of {items}",
        "Order contents and handling",
    ),
    "ticket_signals": (
        "Customer already contacted support ({ticket_intent})",
        "{open_tickets:.0f} open support tickets on this order",
        "Customer support signals",
    ),
}

TRACKING_STAGES = {
    0: "not yet picked up by the carrier",
    1: "picked up, not yet left the origin",
    2: "on its way from the origin",
    3: "between transit hubs",
    4: "at the destination hub",
    5: "out for delivery",
    6: "delivered",
}
"""The tracking reason's words for a parcel's route stage (``trk_stage``: 0 created … 6
delivered): "Parcel not yet picked up by the carrier (+9 pts)"."""

_FORMATTER = string.Formatter()


@dataclass(frozen=True, slots=True)
class _Template:
    text: str
    keys: tuple[str, ...]


def _compile(text: str) -> _Template:
    keys = tuple(field for _, field, _, _ in _FORMATTER.parse(text) if field)
    return _Template(text, keys)


_COMPILED: dict[str, tuple[_Template, ...]] = {
    group: tuple(_compile(t) for t in texts) for group, texts in _TEMPLATES.items()
}


def format_contribution(points: float) -> str:
    """``21.4`` → ``"+21 pts"``, ``1.2`` → ``"+1 pt"``, ``-5`` → ``"−5 pts"``, below half a
    point → ``"<1 pt"``."""
    if abs(points) < 0.5:
        return "<1 pt"
    rounded = round(abs(points))
    unit = "pt" if rounded == 1 else "pts"
    return f"+{rounded} {unit}" if points > 0 else f"\u2212{rounded} {unit}"


def display_name(value: Any, names: Mapping[str, str] | None = None) -> str:
    """A value as the business writes it: the settings' display name when there is one, else the
    stored code made readable (``home_appliances`` → ``Home appliances``; a value that already
    has capitals or spaces, such as a shop's own ``Mercado Livre``, is kept as it is)."""
    text = str(value)
    if names and text in names:
        return names[text]
    if text.islower() and " " not in text:
        text = text.replace("_", " ")
        return text[:1].upper() + text[1:]
    return text


def render_reason(group: str, contribution: float, context: Mapping[str, Any]) -> str:
    """One reason as a sentence with its contribution, e.g.
    ``"Red rainstorm alert in Zhengzhou during transit (+21 pts)"``.

    Args:
        group: one of :data:`REASON_GROUPS`.
        contribution: the group's contribution in points of a 0–100 scale (negative lowers risk).
        context: the order's relevant values (see ``_TEMPLATES`` for the keys); missing or
            ``None`` values make the text fall back to a less specific template.

    Raises:
        KeyError: for an unknown group.
    """
    templates = _COMPILED.get(group)
    if templates is None:
        raise KeyError(f"unknown reason group {group!r}; known: {', '.join(REASON_GROUPS)}")
    values = _with_derived(context)
    for template in templates:
        if all(values.get(key) is not None for key in template.keys):
            text = template.text.format_map(values) if template.keys else template.text
            return f"{text[:1].upper()}{text[1:]} ({format_contribution(contribution)})"
    raise AssertionError("unreachable: the last template of every group names no values")


def _with_derived(context: Mapping[str, Any]) -> Mapping[str, Any]:
    derived: dict[str, Any] = {}
    level = context.get("alert_level")
    if context.get("alert_level_name") is None and level is not None:
        name = ALERT_LEVEL_NAMES.get(int(level))
        if name is not None and name != "none":
            derived["alert_level_name"] = name
    category = context.get("category")
    if context.get("category_name") is None and category is not None:
        derived["category_name"] = display_name(category)
    items = context.get("n_items")
    if context.get("items") is None and items is not None and items == items:  # not NaN
        count = int(round(float(items)))
        derived["items"] = f"{count} item" if count == 1 else f"{count} items"
    return {**context, **derived} if derived else context
