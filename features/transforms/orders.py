"""Order attributes (known at creation) and request-time features (known at prediction time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from orderlens.vocab import ORDER_FLAGS

HOUR = pd.Timedelta(hours=1)

# Promotions the platform runs every year: (month, day of the peak, days of run-up before it).
# Public calendar knowledge, so a legitimate feature (and the surge it brings is real).
PROMOTIONS = ((6, 18, 10), (11, 11, 10), (12, 12, 4))

CATEGORICAL_ORDER_FEATURES = (
    "channel",
    "category",
    "service_level",
    "payment_method",
    "warehouse_id",
    "carrier_id",
    "dest_city",
)


def order_attributes(orders: pd.DataFrame) -> pd.DataFrame:
    """Features of the order itself, as placed.

    Args:
        orders: rows in the orders contract (from the lake or from a prediction request).

    Returns:
        ``order_id``, ``event_timestamp`` (= ``created_at``) and the order features: the
        categorical fields as strings, money amounts and ratios, the promise window in hours,
        destination coordinates, flags as 0/1, hour/day of creation and the promotion calendar.
    """
    created = orders["created_at"]
    value = orders["order_value"].astype("float64")
    features = pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(),
            "event_timestamp": created.to_numpy(),
            **{name: orders[name].astype(str).to_numpy() for name in CATEGORICAL_ORDER_FEATURES},
            "n_items": orders["n_items"].astype("int64").to_numpy(),
            "order_value": value.to_numpy(),
            "discount_rate": (orders["discount"] / value).to_numpy(),
            "freight_cost": orders["freight_cost"].astype("float64").to_numpy(),
            "margin_rate": ((value - orders["discount"] - orders["cogs"]) / value).to_numpy(),
            "promised_hours": ((orders["promised_at"] - created) / HOUR).to_numpy(),
            "dest_lat": orders["dest_lat"].astype("float64").to_numpy(),
            "dest_lon": orders["dest_lon"].astype("float64").to_numpy(),
            **{flag: orders[flag].astype("int64").to_numpy() for flag in ORDER_FLAGS},
            "created_hour": created.dt.hour.to_numpy(),
            "created_dow": created.dt.dayofweek.to_numpy(),
            "days_to_promotion_peak": days_to_promotion_peak(created).to_numpy(),
        }
    )
    features["event_timestamp"] = features["event_timestamp"].astype("datetime64[us, UTC]")
    return features


def days_to_promotion_peak(when: pd.Series) -> pd.Series:
    """Days until the next promotion peak (618, Double 11, Double 12), negative just after it;
    clipped to [-7, 30] because only the run-up and the aftermath change fulfilment."""
    best = pd.Series(np.inf, index=when.index)
    for month, day, _ in PROMOTIONS:
        for year_offset in (-1, 0, 1):
            peak = pd.to_datetime(
                {"year": when.dt.year + year_offset, "month": month, "day": day}
            ).dt.tz_localize("UTC")
            days = (peak - when) / pd.Timedelta(days=1)
            closer = days.abs() < best.abs()
            best = best.where(~closer, days)
    return best.clip(-7, 30)


def request_time_features(
    as_of: Sequence[datetime], created_at: Sequence[datetime], promised_at: Sequence[datetime]
) -> dict[str, list[float]]:
    """Features of the moment of prediction (the Feast on-demand view calls this).

    Plain Python on purpose: it runs per request on the serving hot path, where pandas costs
    milliseconds.

    Args:
        as_of: when the prediction is made; ``created_at``/``promised_at``: the order's times.
            Aligned sequences of timezone-aware ``datetime`` (or pandas ``Timestamp``).

    Returns:
        ``hours_to_promise``, ``hours_since_created`` and ``as_of_hour`` as lists of floats.
    """
    return {
        "hours_to_promise": [
            (p - a).total_seconds() / 3600 for p, a in zip(promised_at, as_of, strict=True)
        ],
        "hours_since_created": [
            (a - c).total_seconds() / 3600 for a, c in zip(as_of, created_at, strict=True)
        ],
        "as_of_hour": [float(a.hour) for a in as_of],
    }
