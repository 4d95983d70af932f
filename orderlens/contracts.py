"""The source contract as code (DESIGN.md "Source contract", docs/data-contract.md).

The contract is open: each table has a small required core; every other column is optional and
nullable, and extra columns are carried through to the lake. A :class:`TableContract` lists a
table's columns (type, required or optional, nullable, range), its event timestamp, its key (what
makes a row the same row twice) and its row rules. Categorical columns take any string: a
business that wants strictness declares an allowed list per column in the settings
(``contract.allowed_values``); only the tracking ``event_type`` has a fixed vocabulary, because
the system reads meaning into it (route stages). Cross-table rules live in
:mod:`features.validation`, which applies all of this to frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from orderlens.vocab import ORDER_FLAGS, TRACKING_EVENTS

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
    one_of: tuple[tuple[str, ...], ...] = ()
    """Groups of optional columns of which at least one group must be present (the destination:
    ``dest_region`` or ``dest_lat`` + ``dest_lon``)."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """The text columns whose values are categories (ids and free text excluded)."""
        return tuple(
            c.name for c in self.columns if c.kind == "str" and c.name not in FREE_TEXT_COLUMNS
        )

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


def _flags() -> tuple[Column, ...]:
    return tuple(Column(flag, "bool", required=False, nullable=True) for flag in ORDER_FLAGS)


def _optional(name: str, kind: Kind, **limits: float) -> Column:
    """An optional, nullable column: the table may lack it and a row may leave it empty."""
    return Column(name, kind, required=False, nullable=True, **limits)


ORDERS = TableContract(
    name="orders",
    timestamp="created_at",
    key=("order_id",),
    description="one row per order, as known when it was placed",
    columns=(
        # The core: what every shop's export has.
        Column("order_id", "str"),
        Column("customer_id", "str"),
        Column("created_at", "timestamp"),
        Column("promised_at", "timestamp"),
        Column("order_value", "float", min=0.01),
        # The destination: a region (city, state or postal area, free text) and/or coordinates.
        _optional("dest_region", "str"),
        _optional("dest_lat", "float", min=-90, max=90),
        _optional("dest_lon", "float", min=-180, max=180),
        # Everything else is optional: features that need a column absent from a shop's data are
        # left out. Categorical columns take any string (see orderlens.vocab).
        _optional("channel", "str"),
        _optional("category", "str"),
        _optional("warehouse_id", "str"),
        _optional("origin_region", "str"),
        _optional("origin_lat", "float", min=-90, max=90),
        _optional("origin_lon", "float", min=-180, max=180),
        _optional("carrier_id", "str"),
        _optional("service_level", "str"),
        _optional("n_items", "int", min=1, max=10_000),
        _optional("discount", "float", min=0),
        _optional("freight_cost", "float", min=0),
        _optional("cogs", "float", min=0),
        _optional("payment_method", "str"),
        *_flags(),
    ),
    one_of=(("dest_region",), ("dest_lat", "dest_lon")),
    rules=(
        RowRule("promise_after_creation", "promised_at must be after created_at"),
        RowRule("discount_within_value", "discount must not exceed order_value"),
        RowRule(
            "destination_given",
            "a destination is needed: dest_region, or both dest_lat and dest_lon",
        ),
        RowRule("origin_coordinates_paired", "origin_lat and origin_lon are given together"),
        RowRule("destination_coordinates_paired", "dest_lat and dest_lon are given together"),
    ),
)

_WEATHER_MEASURES = (
    Column("precip_mm", "float", min=0, max=2_000),
    Column("wind_kph", "float", min=0, max=400),
    Column("temp_c", "float", min=-60, max=60),
    Column("alert_level", "int", min=0, max=4),
    Column("alert_type", "str", nullable=True),  # e.g. rainstorm, typhoon, snow, heat, fog
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
        Column("event_type", "str", allowed=TRACKING_EVENTS),
        _optional("hub", "str"),
        _optional("exception_code", "str"),
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
        Column("created_at", "timestamp"),
        Column("text", "str"),
        _optional("order_id", "str"),
        _optional("customer_id", "str"),
        _optional("channel", "str"),
        _optional("language", "str"),  # any code (en, zh, pt-BR, ...) or none
        _optional("labels", "str"),  # '|'-joined names of any intents the shop uses
    ),
)

OUTCOMES = TableContract(
    name="outcomes",
    timestamp="delivered_at",
    key=("order_id",),
    required=False,
    description="what happened after the order: delivery and what the value dimensions need",
    columns=(
        Column("order_id", "str"),
        # Null: not delivered (yet, or at all: ``status`` says why, e.g. cancelled).
        Column("delivered_at", "timestamp", nullable=True),
        _optional("status", "str"),
        _optional("settled_at", "timestamp"),
        _optional("delivery_attempts", "int", min=1, max=20),
        _optional("returned", "bool"),
        _optional("exchanged", "bool"),
        _optional("refunded_amount", "float", min=0),
        _optional("review_score", "float", min=1, max=5),
        _optional("repeat_orders_90d", "int", min=0),
        _optional("spend_180d_before", "float", min=0),
        _optional("spend_180d_after", "float", min=0),
        _optional("profile_tags_gained", "int", min=0),
        _optional("referrals", "int", min=0),
        _optional("service_attach_revenue", "float", min=0),
        _optional("partner_revenue_share", "float", min=0),
        _optional("cross_category_orders_90d", "int", min=0),
        _optional("packing_cost", "float", min=0),
        _optional("expedite_cost", "float", min=0),
        _optional("compensation_cost", "float", min=0),
        _optional("reverse_logistics_cost", "float", min=0),
        _optional("service_minutes", "float", min=0),
        _optional("cash_collected_at", "timestamp"),
        _optional("carbon_kg", "float", min=0),
        _optional("notified_before_delay", "bool"),
    ),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (ORDERS, WEATHER, FORECASTS, TRACKING, TICKETS, OUTCOMES)
}
"""Every source table by name, in ingest order (orders first: the others refer to it)."""

FREE_TEXT_COLUMNS = frozenset({"order_id", "customer_id", "ticket_id", "text", "labels", "hub"})
"""Text columns that are ids or free text, not categories (no allowed list applies)."""

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
    "tracking.order_quarantined": "the event's order was quarantined in this ingest (see the "
    "orders quarantine file for its rule)",
    "tickets.order_quarantined": "the ticket's order was quarantined in this ingest (see the "
    "orders quarantine file for its rule)",
    "outcomes.order_quarantined": "the outcome's order was quarantined in this ingest (see the "
    "orders quarantine file for its rule)",
}
"""Rules between tables; :mod:`features.validation` implements each one under this name."""
