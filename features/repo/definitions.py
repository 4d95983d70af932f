"""Feast definitions: entities, feature views, the request-time on-demand view and the feature
services ``delay_v1`` and ``value_v1``.

Entities and the on-demand view are plain module-level declarations. Feature views need the
absolute location of their parquet source under the run-time root, so they are built by
:func:`definitions` from the table of :data:`VIEWS` — still declarative, with nothing done at
import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String, UnixTimestamp

from features.transforms.ticket_history import TAIL_COLUMNS

order = Entity(name="order", join_keys=["order_id"], value_type=ValueType.STRING)
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
carrier = Entity(name="carrier", join_keys=["carrier_id"], value_type=ValueType.STRING)
warehouse = Entity(name="warehouse", join_keys=["warehouse_id"], value_type=ValueType.STRING)
city = Entity(name="city", join_keys=["dest_region"], value_type=ValueType.STRING)
lane = Entity(
    name="lane",
    join_keys=["lane_id"],
    value_type=ValueType.STRING,
    description="carrier × destination city, written 'carrier_id|dest_region'",
)

# Time-series views (hourly carrier load, daily lane record, weather) are keyed by entity *and
# day*: Feast's point-in-time join compares every entity row with every feature row of its key,
# so a key that spans a year of hourly rows makes training sets quadratic. Keyed by day, each
# row meets at most a day of candidates (see features/transforms/keys.py).
carrier_day = Entity(name="carrier_day", join_keys=["carrier_day"], value_type=ValueType.STRING)
warehouse_day = Entity(
    name="warehouse_day", join_keys=["warehouse_day"], value_type=ValueType.STRING
)
city_day = Entity(name="city_day", join_keys=["city_day"], value_type=ValueType.STRING)
lane_day = Entity(name="lane_day", join_keys=["lane_day"], value_type=ValueType.STRING)

ENTITIES = (order, customer, carrier, warehouse, city, lane)
DAY_ENTITIES = (carrier_day, warehouse_day, city_day, lane_day)
ENTITY_KEYS = tuple(e.join_key for e in (*ENTITIES, *DAY_ENTITIES))
DAY_KEYS = {
    "carrier_id": "carrier_day",
    "warehouse_id": "warehouse_day",
    "dest_region": "city_day",
    "lane_id": "lane_day",
}
"""Natural key → its day key, for the day-keyed entities."""

prediction_request = RequestSource(
    name="prediction_request",
    schema=[
        Field(name="as_of", dtype=UnixTimestamp),
        Field(name="created_at", dtype=UnixTimestamp),
        Field(name="promised_at", dtype=UnixTimestamp),
    ],
    description="the moment of prediction and the order's own times, sent with the request",
)


@on_demand_feature_view(
    sources=[prediction_request],
    schema=[
        Field(name="hours_to_promise", dtype=Float64),
        Field(name="hours_since_created", dtype=Float64),
        Field(name="as_of_hour", dtype=Float64),
    ],
    mode="python",
    description="request-time features: hours to the promise, order age, hour of day",
)
def request_time(inputs: dict[str, Any]) -> dict[str, Any]:
    # Feast stores this function's source in the registry and runs it without this module's
    # globals, so the one implementation is imported inside.
    from features.transforms.orders import request_time_features

    return request_time_features(inputs["as_of"], inputs["created_at"], inputs["promised_at"])


@dataclass(frozen=True)
class ViewSpec:
    """One feature view: its entity, its time-to-live and which sources it needs."""

    name: str
    entity: Entity
    ttl: timedelta
    needs: tuple[str, ...]
    description: str
    in_value_service: bool = True
    columns: tuple[str, ...] = ()
    """Order columns the view needs with values (an optional contract column a shop's export
    may leave empty: carriers, warehouses, regions)."""
    per_key_history: bool = False
    """The view rolls up history per key (carrier, lane, warehouse): with a single key its
    rolling rates are a function of time alone — a disguised clock — and it is left out."""

    @property
    def natural_key(self) -> str:
        """The business key (``carrier_id`` for ``carrier_day``)."""
        day_to_natural = {day: natural for natural, day in DAY_KEYS.items()}
        return day_to_natural.get(self.entity.join_key, self.entity.join_key)


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("order_attributes", order, timedelta(days=400), ("orders",), "the order as placed"),
    ViewSpec(
        "customer_history",
        customer,
        timedelta(days=400),
        ("orders",),
        "orders, spend and lateness the customer experienced in the last 90 and 365 days",
    ),
    ViewSpec(
        "carrier_performance",
        carrier_day,
        timedelta(days=2),
        ("orders",),
        "hourly carrier load, on-time rate, delay and exceptions",
        columns=("carrier_id",),
        per_key_history=True,
    ),
    ViewSpec(
        "lane_performance",
        lane_day,
        timedelta(days=30),
        ("orders", "outcomes"),
        "daily carrier × city on-time rate and transit time over 90 days",
        columns=("carrier_id", "dest_region"),
        per_key_history=True,
    ),
    ViewSpec(
        "warehouse_backlog",
        warehouse_day,
        timedelta(days=2),
        ("orders",),
        "hourly warehouse load and orders not yet picked",
        columns=("warehouse_id",),
        per_key_history=True,
    ),
    ViewSpec(
        "weather_observed",
        city_day,
        timedelta(days=3),
        ("weather",),
        "observed weather at the destination",
    ),
    ViewSpec(
        "weather_forecast",
        city_day,
        timedelta(days=2),
        ("forecasts",),
        "forecasts and alerts for the destination, as of their issue",
    ),
    ViewSpec(
        "weather_outlook",
        city_day,
        timedelta(days=2),
        ("weather", "forecasts"),
        "alert known for each of the next four days at the destination (observed, else forecast)",
    ),
    ViewSpec(
        "origin_weather",
        warehouse_day,
        timedelta(days=2),
        ("orders", "weather", "forecasts"),
        "alert known for each of the next three days at the warehouse's city (origin and first hub)",
        columns=("warehouse_id", "origin_region"),
    ),
    ViewSpec(
        "order_tickets",
        order,
        timedelta(days=60),
        ("ticket_signals",),
        "what the customer's tickets about this order said so far (NLP signals)",
    ),
    ViewSpec(
        "customer_tickets",
        customer,
        timedelta(days=400),
        ("ticket_signals",),
        "what the customer's tickets said so far, across orders (NLP signals)",
    ),
    ViewSpec(
        "tracking_progress",
        order,
        timedelta(days=60),
        ("orders", "tracking"),
        "how far the parcel got and how it is doing against the plan",
        in_value_service=False,
    ),
)
VIEW_BY_NAME = {spec.name: spec for spec in VIEWS}


CUMULATIVE_COUNTS = frozenset(
    {
        "cust_orders_90d",
        "cust_deliveries_90d",
        "cust_orders_365d",
        "cust_spend_365d",
        "cust_deliveries_365d",
        "cust_late_deliveries_365d",
    }
)
"""Customer-history counts: over a window (features/transforms/performance.py), yet still growing
with the shop's age until the shop is as old as the window (the demo's world is one year old)."""


def is_cumulative(view: str, feature: str) -> bool:
    """Whether a feature is a count that grows with the shop's age (the customer-history counts
    until the shop is as old as their window, and every ticket count of the customer-tickets
    view, over the last year, whose labels are the shop's own), so the monitor compares rates
    (late share, average order value, negative share) instead. Tagged ``monitoring:
    cumulative`` in the registry."""
    if view == "customer_tickets":
        return not feature.endswith(TAIL_COLUMNS)
    return feature in CUMULATIVE_COUNTS


def feast_type(dtype: Any):
    """The Feast type of a pandas column dtype."""
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return Int64
    if pd.api.types.is_float_dtype(dtype):
        return Float64
    return String


def feature_view(spec: ViewSpec, data_dir: Path, schema: dict[str, Any]) -> FeatureView:
    """The Feast view of ``spec`` over ``<data_dir>/<name>.parquet`` with the given columns."""
    source = FileSource(
        name=f"{spec.name}_source",
        path=str(data_dir / f"{spec.name}.parquet"),
        timestamp_field="event_timestamp",
    )
    return FeatureView(
        name=spec.name,
        entities=[spec.entity],
        ttl=spec.ttl,
        schema=[
            Field(
                name=name,
                dtype=feast_type(dtype),
                tags={"monitoring": "cumulative"} if is_cumulative(spec.name, name) else None,
            )
            for name, dtype in schema.items()
        ],
        source=source,
        online=True,
        description=spec.description,
    )


def definitions(
    data_dir: Path, schemas: dict[str, dict[str, Any]], version: str = "v1"
) -> list[Any]:
    """Every Feast object to apply.

    Args:
        data_dir: folder of the views' parquet sources.
        schemas: per view that has data, its feature columns and pandas dtypes; views whose
            sources are absent are left out (and so are left out of the services).
        version: suffix of the feature services (``delay_<version>``, ``value_<version>``).
    """
    views = [feature_view(VIEW_BY_NAME[name], data_dir, schema) for name, schema in schemas.items()]
    delay = FeatureService(
        name=f"delay_{version}",
        features=[*views, request_time],
        description="features of the delay models (probability, hours, P90)",
    )
    value = FeatureService(
        name=f"value_{version}",
        features=[v for v in views if VIEW_BY_NAME[v.name].in_value_service] + [request_time],
        description="features of the 19 value-dimension models",
    )
    return [*ENTITIES, *DAY_ENTITIES, prediction_request, request_time, *views, delay, value]
