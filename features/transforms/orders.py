"""Order attributes (known at creation) and request-time features (known at prediction time)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from orderlens.settings import OrderExtra
from orderlens.vocab import ORDER_FLAGS

HOUR = pd.Timedelta(hours=1)

PromotionPeaks = Sequence[tuple[int, int]]
"""(month, day) of each yearly promotion peak: the business's calendar, from
``settings.business.promotions`` (public calendar knowledge, so a legitimate feature)."""

CATEGORICAL_ORDER_FEATURES = (
    "channel",
    "category",
    "service_level",
    "payment_method",
    "warehouse_id",
    "carrier_id",
    "dest_region",
)


def promotion_peaks(calendar: Any = None) -> tuple[tuple[int, int], ...]:
    """(month, day) pairs of a promotion calendar: a frame or a sequence of records with
    ``month`` and ``day`` (``settings.business.promotions``); None: the settings' default."""
    if calendar is None:
        from orderlens.settings import BusinessSettings

        calendar = BusinessSettings().promotions
    if isinstance(calendar, pd.DataFrame):
        return tuple(zip(calendar["month"].astype(int), calendar["day"].astype(int), strict=True))
    return tuple((int(p.month), int(p.day)) for p in calendar)


def order_attributes(
    orders: pd.DataFrame, promotions: Any = None, extras: Sequence[OrderExtra] = ()
) -> pd.DataFrame:
    """Features of the order itself, as placed.

    Args:
        orders: rows in the orders contract (from the lake or from a prediction request).
        promotions: the business's promotion calendar (:func:`promotion_peaks`); None: the
            settings' default.
        extras: the shop's declared extra columns (``extra_<name>`` features).

    Returns:
        ``order_id``, ``event_timestamp`` (= ``created_at``) and the order features: the
        categorical fields as strings, money amounts and ratios, the promise window in hours,
        destination coordinates, the route distance (when the origin is known), flags as 0/1,
        hour/day of creation and the promotion calendar.
    """
    features = pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(),
            "event_timestamp": orders["created_at"].to_numpy(),
            **order_feature_columns(orders, promotion_peaks(promotions), extras),
        }
    )
    features["event_timestamp"] = features["event_timestamp"].astype("datetime64[us, UTC]")
    return features


def order_feature_columns(
    orders: Mapping[str, Any],
    peaks: PromotionPeaks | None = None,
    extras: Sequence[OrderExtra] = (),
) -> dict[str, np.ndarray]:
    """The order features of :func:`order_attributes` as numpy columns, without pandas.

    The prediction service calls this on the columns of a request (a pandas frame costs
    milliseconds per request there); :func:`order_attributes` calls it on the lake's frame.

    Args:
        orders: a DataFrame or a mapping of column → sequence with the orders-contract fields;
            ``created_at``/``promised_at`` as UTC ``datetime64`` columns or timezone-aware
            ``datetime`` objects. Optional contract columns may be absent or null.
        peaks: the business's promotion peaks (:func:`promotion_peaks`); None: the settings'
            default calendar.
        extras: the shop's declared extra columns: each becomes ``extra_<name>`` (numbers as
            floats, unparseable → NaN; categories as text); absent → missing.

    Returns:
        Feature name → array (one value per order), in :func:`order_attributes`'s column order.
    """
    created = _epoch_seconds(orders["created_at"])
    promised = _epoch_seconds(orders["promised_at"])
    n = len(created)

    def numbers(name: str) -> np.ndarray:
        # Optional contract columns: absent or null → NaN, which LightGBM treats as missing.
        return _floats(orders[name]) if name in orders else np.full(n, np.nan)

    def text(name: str) -> np.ndarray:
        return _text(orders[name]) if name in orders else _text([None] * n)

    value = numbers("order_value")
    discount = numbers("discount")
    cogs = numbers("cogs")
    days = np.floor_divide(created, 86_400.0)
    return {
        **{name: text(name) for name in CATEGORICAL_ORDER_FEATURES},
        "n_items": numbers("n_items"),
        "order_value": value,
        "discount_rate": discount / value,
        "freight_cost": numbers("freight_cost"),
        "margin_rate": (value - discount - cogs) / value,
        "net_order_value": value - discount,
        # What the order earns at checkout, before refunds and fulfilment beyond freight: the
        # known part of its gross margin (the value models add only the uncertain rest).
        "order_margin": value - discount - cogs - numbers("freight_cost"),
        "route_km": route_km(orders),
        "promised_hours": (promised - created) / 3600.0,
        "dest_lat": numbers("dest_lat"),
        "dest_lon": numbers("dest_lon"),
        **{flag: numbers(flag) for flag in ORDER_FLAGS},
        "created_hour": (np.floor_divide(created, 3600.0) % 24).astype(np.int32),
        "created_dow": ((days + 3) % 7).astype(np.int32),  # 1970-01-01 was a Thursday
        "days_to_promotion_peak": _days_to_peak(
            created, promotion_peaks() if peaks is None else peaks
        ),
        **extra_feature_columns(orders, extras, n),
    }


def extra_feature_columns(
    orders: Mapping[str, Any], extras: Sequence[OrderExtra], n: int
) -> dict[str, np.ndarray]:
    """The ``extra_<name>`` feature of each declared extra column (missing where absent)."""
    out: dict[str, np.ndarray] = {}
    for extra in extras:
        values = orders[extra.name] if extra.name in orders else [None] * n
        if extra.kind == "moment":
            # Hours from the moment to the promise: a lead time, not a date (a date would be a
            # clock the trees could read the era from).
            moment = pd.to_datetime(pd.Series(np.asarray(values, dtype=object)), utc=True)
            seconds = moment.dt.tz_localize(None).to_numpy("datetime64[us]").astype(np.int64)
            hours = (_epoch_seconds(orders["promised_at"]) - seconds / 1e6) / 3600.0
            out[extra.feature] = np.where(moment.isna().to_numpy(), np.nan, hours)
        elif extra.kind == "numeric":
            out[extra.feature] = pd.to_numeric(
                pd.Series(np.asarray(values, dtype=object)), errors="coerce"
            ).to_numpy(np.float64)
        else:
            raw = pd.Series(np.asarray(values, dtype=object))
            text = raw.astype(str).str.strip().where(raw.notna())
            # A blank cell (a CSV's empty string) is a missing category, not a category "".
            out[extra.feature] = _text(text.where(text.str.len() > 0))
    return out


def route_km(orders: Mapping[str, Any]) -> np.ndarray:
    """Great-circle kilometres from the shipping origin to the destination; NaN where the order
    carries no origin (it is optional in the contract)."""
    n = len(orders["created_at"])
    needed = ("origin_lat", "origin_lon", "dest_lat", "dest_lon")
    if any(name not in orders for name in needed):
        return np.full(n, np.nan)
    lat1 = np.radians(_floats(orders["origin_lat"]))
    lon1 = np.radians(_floats(orders["origin_lon"]))
    lat2 = np.radians(_floats(orders["dest_lat"]))
    lon2 = np.radians(_floats(orders["dest_lon"]))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def _floats(values: Any) -> np.ndarray:
    """Floats with None → NaN (an optional request field may be absent)."""
    if isinstance(values, pd.Series | np.ndarray):
        return np.asarray(values, dtype=np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def days_to_promotion_peak(when: pd.Series, peaks: PromotionPeaks | None = None) -> pd.Series:
    """Days until the nearest promotion peak of the business's calendar, negative just after
    it; clipped to [-7, 30] because only the run-up and the aftermath change fulfilment."""
    peaks = promotion_peaks() if peaks is None else peaks
    return pd.Series(_days_to_peak(_epoch_seconds(when), peaks), index=when.index)


def _days_to_peak(seconds: np.ndarray, peaks: PromotionPeaks) -> np.ndarray:
    """:func:`days_to_promotion_peak` on UTC epoch seconds: the nearest peak (midnight UTC) of
    last, this or next year; the first of equally near peaks wins. No calendar: NaN (missing)."""
    if not peaks:
        return np.full(len(seconds), np.nan)
    days = np.full(len(seconds), np.nan)  # a missing moment has no nearest peak
    known = np.isfinite(seconds)
    if not known.any():
        return days
    moments = seconds[known]
    # Years since 1970 of the rows; the peaks around each year from a cache (one order scored
    # alone paid ~0.25 ms for building them per peak and year, per request).
    year = moments.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
    first = int(year.min())
    key = tuple((int(month), int(day)) for month, day in peaks)
    table = np.stack([_peaks_around(key, y) for y in range(first, int(year.max()) + 1)])
    candidates = (table[year - first] - moments[:, None]) / 86_400.0
    nearest = candidates[np.arange(len(moments)), np.argmin(np.abs(candidates), axis=1)]
    days[known] = np.clip(nearest, -7.0, 30.0)
    return days


@functools.lru_cache(maxsize=1024)
def _peaks_around(peaks: PromotionPeaks, year: int) -> np.ndarray:
    """Epoch seconds of each peak (midnight UTC) of the year before, of and after ``year``
    (years since 1970), in (peak, year) order: ties go to the first."""
    around = np.datetime64(year, "Y") + np.array([-1, 0, 1])
    table = np.array(
        [
            ((around.astype("datetime64[M]") + (month - 1)).astype("datetime64[D]") + (day - 1))
            .astype("datetime64[s]")
            .astype(np.int64)
            for month, day in peaks
        ]
    ).ravel()
    table.flags.writeable = False  # shared by every caller (cached)
    return table


def _epoch_seconds(values: Any) -> np.ndarray:
    """UTC epoch seconds (float) of a datetime64 column or a sequence of aware datetimes."""
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values.dtype):
        if values.dt.tz is not None:  # naive columns are already UTC
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy("datetime64[us]").astype(np.int64) / 1e6
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":  # naive values are UTC
        return values.astype("datetime64[us]").astype(np.int64) / 1e6
    return np.array([v.timestamp() for v in values], dtype=np.float64)


def _text(values: Any) -> np.ndarray:
    """Category names as text; a missing value stays None (a missing category, not "None")."""
    if isinstance(values, pd.Series):
        return values.astype(str).where(values.notna(), None).to_numpy(dtype=object)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def request_time_features(
    as_of: Sequence[Any], created_at: Sequence[Any], promised_at: Sequence[Any]
) -> dict[str, list[float]]:
    """Features of the moment of prediction (the Feast on-demand view calls this).

    Vectorised over the batch and free of pandas: it runs per request on the serving hot path
    and over whole files in batch scoring.

    Args:
        as_of: when the prediction is made; ``created_at``/``promised_at``: the order's times.
            Aligned sequences of timezone-aware ``datetime`` (or pandas ``Timestamp``), or
            ``datetime64`` arrays / datetime Series taken as UTC.

    Returns:
        ``hours_to_promise``, ``hours_since_created`` and ``as_of_hour`` (UTC) as lists of floats.
    """
    moment = _epoch_seconds(as_of)
    return {
        "hours_to_promise": ((_epoch_seconds(promised_at) - moment) / 3600.0).tolist(),
        "hours_since_created": ((moment - _epoch_seconds(created_at)) / 3600.0).tolist(),
        "as_of_hour": (np.floor_divide(moment, 3600.0) % 24).tolist(),
    }
