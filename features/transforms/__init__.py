"""Feature transformations: pure DataFrame functions, one implementation of each feature.

Each function takes source tables and returns a feature frame with its entity key(s) and an
``event_timestamp`` that says when the values became known. The Feast feature views are filled
from these frames (offline), training reads them through point-in-time joins, and serving
computes the request-time ones with the same functions.
"""

from features.transforms.orders import order_attributes, request_time_features
from features.transforms.performance import (
    carrier_performance,
    customer_history,
    lane_performance,
    warehouse_backlog,
)
from features.transforms.progress import tracking_progress
from features.transforms.weather import (
    destination_outlook,
    origin_outlook,
    weather_forecast,
    weather_observed,
)

__all__ = [
    "carrier_performance",
    "customer_history",
    "destination_outlook",
    "lane_performance",
    "order_attributes",
    "origin_outlook",
    "request_time_features",
    "tracking_progress",
    "warehouse_backlog",
    "weather_forecast",
    "weather_observed",
]
