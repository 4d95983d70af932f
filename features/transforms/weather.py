"""Weather at the destination: what was observed, and what forecasts said when they were issued."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
DISRUPTIVE_ALERT = 2  # yellow and above slows deliveries; blue alerts rarely do


def weather_observed(weather: pd.DataFrame) -> pd.DataFrame:
    """Observed weather per destination city at each observation.

    Returns:
        ``dest_city``, ``event_timestamp`` (= ``observed_at``), ``obs_precip_mm``,
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
            "dest_city": frame["city"].to_numpy(),
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
        ``dest_city``, ``event_timestamp`` and ``fc_alert_max_24h``, ``fc_alert_max_72h``,
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
    out = out.reset_index().rename(columns={"city": "dest_city", "issued_at": "event_timestamp"})
    out["fc_alert_type"] = out["fc_alert_type"].fillna("none").astype(str)
    for column in ("fc_alert_max_24h", "fc_alert_max_72h"):
        out[column] = out[column].fillna(0).astype(np.int64)
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out[
        [
            "dest_city",
            "event_timestamp",
            "fc_alert_max_24h",
            "fc_alert_max_72h",
            "fc_alert_type",
            "fc_precip_max_72h",
            "fc_wind_max_72h",
            "fc_hours_to_alert",
        ]
    ]
