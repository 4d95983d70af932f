"""Day keys for the time-series feature views.

A day-keyed view holds, under ``<key>|<YYYY-MM-DD>``, the rows stamped on that day — plus one
row at the day's first instant carrying the previous day's last values, so a lookup early in a
day still finds the latest values known. A prediction at time t looks up ``<key>|<date of t>``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.repo.definitions import DAY_KEYS

DAY = pd.Timedelta(days=1)


def day_key(key: pd.Series, when: pd.Series) -> pd.Series:
    """``<key>|<YYYY-MM-DD of when (UTC)>`` (missing when ``when`` is)."""
    # Format each distinct day once: strftime per row cost ~1 s per million rows.
    utc = when.dt.tz_convert("UTC") if when.dt.tz is not None else when
    codes, days = pd.factorize(utc.dt.floor("D"))
    labels = np.append(days.strftime("%Y-%m-%d").to_numpy(object), np.nan)
    dates = pd.Series(labels[codes], index=key.index)  # code -1 (NaT) picks the NaN at the end
    return key.astype(str) + "|" + dates


def add_day_keys(rows: pd.DataFrame, when: str = "as_of") -> pd.DataFrame:
    """Add the day key of every natural key present in ``rows`` for the moment ``rows[when]``."""
    out = rows.copy()
    moment = pd.to_datetime(out[when], utc=True)
    for natural, day in DAY_KEYS.items():
        if natural in out.columns:
            out[day] = day_key(out[natural], moment)
    return out


def day_keyed(frame: pd.DataFrame, natural_key: str) -> pd.DataFrame:
    """A feature frame keyed by day, with carry-over rows at each day's start.

    Args:
        frame: ``natural_key``, ``event_timestamp`` and feature columns.
        natural_key: e.g. ``carrier_id``.

    Returns:
        The rows plus carry-over rows (the last values of each key and day, stamped at the next
        day's midnight unless a row already sits exactly there), with the day key column.
    """
    stamp = frame["event_timestamp"]
    last_of_day = (
        frame.assign(_day=stamp.dt.floor("D"))
        .sort_values([natural_key, "event_timestamp"], kind="stable")
        .drop_duplicates([natural_key, "_day"], keep="last")
    )
    carry = last_of_day.assign(event_timestamp=last_of_day["_day"] + DAY).drop(columns="_day")
    carry["event_timestamp"] = carry["event_timestamp"].astype(stamp.dtype)
    out = pd.concat([frame, carry], ignore_index=True)
    out = out.drop_duplicates([natural_key, "event_timestamp"], keep="first")
    out[DAY_KEYS[natural_key]] = day_key(out[natural_key], out["event_timestamp"])
    return out.sort_values([natural_key, "event_timestamp"], kind="stable").reset_index(drop=True)
