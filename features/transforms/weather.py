"""Weather at the destination: what was observed, and what forecasts said when they were issued."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
DISRUPTIVE_ALERT = 2  # yellow and above slows deliveries; blue alerts rarely do


def weather_observed(weather: pd.DataFrame) -> pd.DataFrame:
    """Observed weather per destination city at each observation.

    Returns:
        ``dest_region``, ``event_timestamp`` (= ``observed_at``), ``obs_precip_mm``,
        ``obs_wind_kph``, ``obs_temp_c``, ``obs_alert_level`` and ``obs_alert_level_max_48h``
        (highest alert observed over the last two days, since storms delay for a while after).
    """
    frame = weather.sort_values(["city", "observed_at"]).reset_index(drop=True)
    rolling = (
        frame.set_index("observed_at")
        .groupby("city", sort=False)["alert_level"]
        .rolling("48h")
        .max()
    )
    out = pd.DataFrame(
        {
            "dest_region": frame["city"].to_numpy(),
            "event_timestamp": frame["observed_at"].astype("datetime64[us, UTC]").to_numpy(),
            "obs_precip_mm": frame["precip_mm"].to_numpy(),
            "obs_wind_kph": frame["wind_kph"].to_numpy(),
            "obs_temp_c": frame["temp_c"].to_numpy(),
            "obs_alert_level": frame["alert_level"].astype("int64").to_numpy(),
            "obs_alert_level_max_48h": rolling.to_numpy().astype("int64"),
        }
    )
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out


def weather_forecast(forecasts: pd.DataFrame) -> pd.DataFrame:
    """What each forecast issue said about the next three days, stamped at ``issued_at``
    (a forecast cannot be used before it was issued).

    Returns:
        ``dest_region``, ``event_timestamp`` and ``fc_alert_max_24h``, ``fc_alert_max_72h``,
        ``fc_alert_type`` (type of the strongest alert in 72 h, ``none`` if none),
        ``fc_precip_max_72h``, ``fc_wind_max_72h``, ``fc_hours_to_alert`` (hours from issue to
        the first disruptive alert; NaN if none).
    """
    frame = forecasts.assign(ahead=(forecasts["valid_at"] - forecasts["issued_at"]) / HOUR)
    frame = frame[(frame["ahead"] > 0) & (frame["ahead"] <= 72)]
    key = ["city", "issued_at"]
    grouped = frame.groupby(key, sort=True)
    strongest = frame.sort_values("alert_level", ascending=False, kind="stable").drop_duplicates(
        key
    )
    strongest = strongest.set_index(key)["alert_type"]
    disruptive = frame[frame["alert_level"] >= DISRUPTIVE_ALERT]
    out = pd.DataFrame(
        {
            "fc_alert_max_24h": frame[frame["ahead"] <= 24].groupby(key)["alert_level"].max(),
            "fc_alert_max_72h": grouped["alert_level"].max(),
            "fc_precip_max_72h": grouped["precip_mm"].max(),
            "fc_wind_max_72h": grouped["wind_kph"].max(),
            "fc_hours_to_alert": disruptive.groupby(key)["ahead"].min(),
        }
    )
    out["fc_alert_type"] = strongest.reindex(out.index).where(out["fc_alert_max_72h"] > 0)
    out = out.reset_index().rename(columns={"city": "dest_region", "issued_at": "event_timestamp"})
    out["fc_alert_type"] = out["fc_alert_type"].fillna("none").astype(str)
    for column in ("fc_alert_max_24h", "fc_alert_max_72h"):
        out[column] = out[column].fillna(0).astype(np.int64)
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out[
        [
            "dest_region",
            "event_timestamp",
            "fc_alert_max_24h",
            "fc_alert_max_72h",
            "fc_alert_type",
            "fc_precip_max_72h",
            "fc_wind_max_72h",
            "fc_hours_to_alert",
        ]
    ]


DAY = pd.Timedelta(days=1)
DEST_OUTLOOK_DAYS = 4
"""Days ahead (0 = today) of the destination outlook: most parcels reach the destination on the
day of creation or within three days after it."""
ORIGIN_OUTLOOK_DAYS = 3
"""Days ahead of the origin outlook: parcels leave the warehouse (and pass its hub) within
a day or two."""


def weather_outlook(
    weather: pd.DataFrame, forecasts: pd.DataFrame, days: int = DEST_OUTLOOK_DAYS
) -> pd.DataFrame:
    """What was known, at each moment, about the alert on each of the next few *calendar days*
    (UTC) in a city: the day's observation once published, else the latest forecast for it.

    A parcel is held by the weather on the days it is at a place, so a forecast matters through
    the day it is valid for — not through "the worst alert somewhere in the next 72 h" as of an
    issue time. Rows are stamped at every publication (forecast issue, observation) and at every
    midnight (when "today" becomes "yesterday"), so an as-of lookup always finds the offsets
    counted from its own day.

    Args:
        weather: observations (``city``, ``observed_at``, ``alert_level``, ``alert_type``).
        forecasts: ``city``, ``issued_at``, ``valid_at`` (start of the day it is for),
            ``alert_level``, ``alert_type``.
        days: days ahead to describe (0 = the stamp's own day).

    Returns:
        ``city``, ``event_timestamp`` and per day ``k`` ahead: ``d{k}_alert`` (latest known
        level, 0 when nothing was published), ``d{k}_alert_max`` (highest level any publication
        gave that day so far) and ``d{k}_alert_type`` (the hazard named by the latest warning
        for that day, ``none`` if none).
    """
    published = pd.concat(
        [
            _publications(forecasts, published_at="issued_at", day_of="valid_at"),
            _publications(weather, published_at="observed_at", day_of="observed_at"),
        ],
        ignore_index=True,
    )
    published["level"] = published["level"].fillna(0).astype("int64")
    published["type"] = published["type"].where(published["level"] > 0)
    published = published.sort_values(["city", "day", "published_at"], kind="stable")
    by_day = published.groupby(["city", "day"], sort=False)
    published["level_max"] = by_day["level"].cummax()
    published["warned"] = by_day["type"].ffill()
    published = published.sort_values("published_at", kind="stable")

    stamps = _outlook_stamps(published)
    out = stamps.copy()
    for k in range(days):
        wanted = stamps.assign(day=stamps["event_timestamp"].dt.floor("D") + k * DAY)
        known = pd.merge_asof(
            wanted.sort_values("event_timestamp"),
            published[["city", "day", "published_at", "level", "level_max", "warned"]],
            left_on="event_timestamp",
            right_on="published_at",
            by=["city", "day"],
            direction="backward",
        ).set_index(["city", "event_timestamp"])
        known = known.reindex(pd.MultiIndex.from_frame(stamps[["city", "event_timestamp"]]))
        out[f"d{k}_alert"] = known["level"].fillna(0).astype("int64").to_numpy()
        out[f"d{k}_alert_max"] = known["level_max"].fillna(0).astype("int64").to_numpy()
        out[f"d{k}_alert_type"] = known["warned"].fillna("none").astype(str).to_numpy()
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out.reset_index(drop=True)


def _outlook_stamps(published: pd.DataFrame) -> pd.DataFrame:
    """Every (city, moment) at which a city's outlook can change: its publications and every
    midnight from its first publication's day to its last's."""
    first = published["published_at"].min().floor("D")
    last = published["published_at"].max()
    midnights = pd.date_range(first, last, freq="D")
    cities = published["city"].unique()
    grid = pd.DataFrame(
        {
            "city": np.repeat(cities, len(midnights)),
            "event_timestamp": np.tile(midnights.to_numpy(), len(cities)),
        }
    )
    moments = published[["city", "published_at"]].rename(
        columns={"published_at": "event_timestamp"}
    )
    stamps = pd.concat([grid, moments], ignore_index=True)
    stamps["event_timestamp"] = pd.to_datetime(stamps["event_timestamp"], utc=True)
    return stamps.drop_duplicates().sort_values(["city", "event_timestamp"]).reset_index(drop=True)


def destination_outlook(weather: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """The :func:`weather_outlook` of each destination city: ``dest_region``, ``event_timestamp``
    and ``fc_dest_d{k}_alert`` / ``_alert_max`` / ``_alert_type`` for k = 0..3."""
    outlook = weather_outlook(weather, forecasts, DEST_OUTLOOK_DAYS)
    return _prefixed(outlook, "fc_dest_").rename(columns={"city": "dest_region"})


def origin_outlook(
    orders: pd.DataFrame, weather: pd.DataFrame, forecasts: pd.DataFrame
) -> pd.DataFrame:
    """The :func:`weather_outlook` of each warehouse's city (the parcel's origin and first hub),
    keyed by ``warehouse_id``: ``fc_origin_d{k}_alert`` / ``_alert_max`` / ``_alert_type`` for
    k = 0..2.

    A warehouse's city is read from its orders' optional ``origin_region``; its rows start at its
    first order carrying one (nothing is known about the warehouse before). Empty when the
    orders carry no origin.
    """
    columns = ["warehouse_id", "event_timestamp"] + [
        f"fc_origin_d{k}_{name}"
        for k in range(ORIGIN_OUTLOOK_DAYS)
        for name in ("alert", "alert_max", "alert_type")
    ]
    if "origin_region" not in orders or orders["origin_region"].isna().all():
        return pd.DataFrame(columns=columns)
    sites = (
        orders.dropna(subset=["origin_region"])
        .sort_values("created_at", kind="stable")
        .drop_duplicates("warehouse_id")[["warehouse_id", "origin_region", "created_at"]]
    )
    outlook = _prefixed(weather_outlook(weather, forecasts, ORIGIN_OUTLOOK_DAYS), "fc_origin_")
    out = sites.merge(outlook, left_on="origin_region", right_on="city")
    out = out[out["event_timestamp"] >= out["created_at"]]
    return out[columns].sort_values(["warehouse_id", "event_timestamp"]).reset_index(drop=True)


def _prefixed(outlook: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return outlook.rename(
        columns={c: prefix + c for c in outlook.columns if c not in ("city", "event_timestamp")}
    )


def _publications(frame: pd.DataFrame, *, published_at: str, day_of: str) -> pd.DataFrame:
    """Forecasts or observations as publications: ``city``, when it was ``published_at``, the
    UTC ``day`` it speaks of, its alert ``level`` and hazard ``type``."""
    return pd.DataFrame(
        {
            "city": frame["city"].to_numpy(),
            "published_at": frame[published_at].to_numpy(),
            "day": frame[day_of].dt.floor("D").to_numpy(),
            "level": frame["alert_level"].to_numpy(),
            "type": frame["alert_type"].to_numpy(),
        }
    )
