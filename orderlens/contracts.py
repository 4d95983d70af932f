"""The source contract as code (DESIGN.md "Source contract").

A :class:`TableContract` lists a table's columns (type, required or optional, nullable, allowed
values, range), its event timestamp, its key (what makes a row the same row twice) and its row
rules. Cross-table rules live in :mod:`features.validation`, which applies all of this to frames.
Extra columns are allowed and carried through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from orderlens import vocab
from orderlens.intents import INTENT_NAMES

Kind = Literal["str", "float", "int", "bool", "timestamp"]


@dataclass(frozen=True)
class Column:
    """One column of a source table."""

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    allowed: tuple[object, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class RowRule:
    """A rule between columns of one row. :mod:`features.validation` implements each one under
    its ``name`` as a function that marks the rows that *break* the rule."""

    name: str
    description: str


@dataclass(frozen=True)
class TableContract:
    """One source table: columns, event timestamp, key and row rules."""

    name: str
    timestamp: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required: bool = True
    rules: tuple[RowRule, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


def _flags() -> tuple[Column, ...]:
    return tuple(Column(flag, "bool") for flag in vocab.ORDER_FLAGS)


ORDERS = TableContract(
    name="orders",
    timestamp="created_at",
    key=("order_id",),
    description="one row per order, as known when it was placed",
    columns=(
        Column("order_id", "str"),
        Column("customer_id", "str"),
        Column("created_at", "timestamp"),
        Column("channel", "str", allowed=vocab.CHANNELS),
        Column("warehouse_id", "str"),
        Column("dest_city", "str"),
        Column("dest_lat", "float", min=-90, max=90),
        Column("dest_lon", "float", min=-180, max=180),
        Column("carrier_id", "str"),
        # Where the parcel ships from (optional): gives the route distance.
        Column("origin_city", "str", required=False, nullable=True),
        Column("origin_lat", "float", required=False, nullable=True, min=-90, max=90),
        Column("origin_lon", "float", required=False, nullable=True, min=-180, max=180),
        Column("service_level", "str", allowed=vocab.SERVICE_LEVELS),
        Column("promised_at", "timestamp"),
        Column("n_items", "int", min=1, max=10_000),
        Column("category", "str", allowed=vocab.CATEGORIES),
        Column("order_value", "float", min=0.01),
        Column("discount", "float", min=0),
        Column("freight_cost", "float", min=0),
        Column("cogs", "float", min=0),
        Column("payment_method", "str", allowed=vocab.PAYMENT_METHODS),
        *_flags(),
    ),
    rules=(
        RowRule("promise_after_creation", "promised_at must be after created_at"),
        RowRule("discount_within_value", "discount must not exceed order_value"),
    ),
)

_WEATHER_MEASURES = (
    Column("precip_mm", "float", min=0, max=2_000),
    Column("wind_kph", "float", min=0, max=400),
    Column("temp_c", "float", min=-60, max=60),
    Column("alert_level", "int", min=0, max=4),
    Column("alert_type", "str", nullable=True, allowed=vocab.ALERT_TYPES),
)

WEATHER = TableContract(
    name="weather",
    timestamp="observed_at",
    key=("city", "observed_at"),
    required=False,
    description="observed weather per city (hourly or daily)",
    columns=(Column("city", "str"), Column("observed_at", "timestamp"), *_WEATHER_MEASURES),
    rules=(RowRule("alert_type_matches_level", "alert_type is set exactly when alert_level > 0"),),
)

FORECASTS = TableContract(
    name="forecasts",
    timestamp="issued_at",
    key=("city", "issued_at", "valid_at"),
    required=False,
    description="weather forecasts and alerts: usable only after issued_at",
    columns=(
        Column("city", "str"),
        Column("issued_at", "timestamp"),
        Column("valid_at", "timestamp"),
        *_WEATHER_MEASURES,
    ),
    rules=(
        RowRule("valid_after_issue", "valid_at must be after issued_at"),
        RowRule("alert_type_matches_level", "alert_type is set exactly when alert_level > 0"),
    ),
)

TRACKING = TableContract(
    name="tracking",
    timestamp="event_time",
    key=("order_id", "event_time", "event_type"),
    required=False,
    description="carrier scan events",
    columns=(
        Column("order_id", "str"),
        Column("carrier_id", "str"),
        Column("event_time", "timestamp"),
        Column("event_type", "str", allowed=vocab.TRACKING_EVENTS),
        Column("hub", "str", nullable=True),
        Column("exception_code", "str", nullable=True, allowed=vocab.EXCEPTION_CODES),
    ),
    rules=(
        RowRule(
            "exception_code_matches_event",
            "exception_code is set exactly on exception events",
        ),
    ),
)

TICKETS = TableContract(
    name="tickets",
    timestamp="created_at",
    key=("ticket_id",),
    required=False,
    description="customer-service tickets; labels only for training",
    columns=(
        Column("ticket_id", "str"),
        Column("order_id", "str", nullable=True),
        Column("customer_id", "str"),
        Column("created_at", "timestamp"),
        Column("channel", "str", allowed=vocab.TICKET_CHANNELS),
        Column("text", "str"),
        Column("language", "str", allowed=vocab.LANGUAGES),
        Column("labels", "str", required=False, nullable=True),
    ),
    rules=(RowRule("known_labels", f"labels are '|'-joined names from {INTENT_NAMES}"),),
)

OUTCOMES = TableContract(
    name="outcomes",
    timestamp="delivered_at",
    key=("order_id",),
    required=False,
    description="what happened after the order: delivery and what the value dimensions need",
    columns=(
        Column("order_id", "str"),
        Column("delivered_at", "timestamp"),
        Column("settled_at", "timestamp", required=False, nullable=True),
        Column("delivery_attempts", "int", required=False, min=1, max=20),
        Column("returned", "bool", required=False),
        Column("exchanged", "bool", required=False),
        Column("refunded_amount", "float", required=False, min=0),
        Column("review_score", "float", required=False, nullable=True, min=1, max=5),
        Column("repeat_orders_90d", "int", required=False, min=0),
        Column("spend_180d_before", "float", required=False, min=0),
        Column("spend_180d_after", "float", required=False, min=0),
        Column("profile_tags_gained", "int", required=False, min=0),
        Column("referrals", "int", required=False, min=0),
        Column("service_attach_revenue", "float", required=False, min=0),
        Column("partner_revenue_share", "float", required=False, min=0),
        Column("cross_category_orders_90d", "int", required=False, min=0),
        Column("packing_cost", "float", required=False, min=0),
        Column("expedite_cost", "float", required=False, min=0),
        Column("compensation_cost", "float", required=False, min=0),
        Column("reverse_logistics_cost", "float", required=False, min=0),
        Column("service_minutes", "float", required=False, min=0),
        Column("cash_collected_at", "timestamp", required=False, nullable=True),
        Column("carbon_kg", "float", required=False, min=0),
        Column("notified_before_delay", "bool", required=False),
    ),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (ORDERS, WEATHER, FORECASTS, TRACKING, TICKETS, OUTCOMES)
}
"""Every source table by name, in ingest order (orders first: the others refer to it)."""

CROSS_TABLE_RULES: dict[str, str] = {
    "tracking.order_exists": "a tracking event's order_id must be a known order",
    "tracking.not_before_creation": "a tracking event must not be before its order's created_at",
    "tracking.in_time_order": "an order's scans follow the route order in time (picked before "
    "departed_origin before ... before delivered)",
    "tickets.order_exists": "a ticket's order_id, when set, must be a known order",
    "tickets.not_before_creation": "a ticket about an order must not be before the order",
    "outcomes.order_exists": "an outcome's order_id must be a known order",
    "outcomes.delivered_after_creation": "delivered_at must be after the order's created_at",
    "outcomes.refund_within_value": "refunded_amount must not exceed the order's value",
}
"""Rules between tables; :mod:`features.validation` implements each one under this name."""
