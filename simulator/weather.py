"""Climate-driven weather per city and day, forecasts issued ahead of it, and the posterior over a
day's weather given the forecasts available at some moment (what the oracle integrates over).

Each city-day has a hazard *type* (drawn from the zone's seasonal mix: typhoons on the south-east
coast in Jul–Sep, plum rains on the Yangtze in Jun–Jul, snow in the northern winter, …) and an
alert *level* 0–4. Days are independent given the climate calendar, which keeps the posterior
exact: prior × forecast likelihoods (forecast errors are independent given the true level).

Time is measured in hours since the first simulated day, 00:00 UTC. A forecast for day ``d`` at
lead ``h`` is issued at ``(d - h) * 24 + ISSUE_HOUR`` and the day's observation is published at
``d * 24 + OBSERVED_HOUR``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens import vocab
from simulator import geography as geo

TYPES: tuple[str, ...] = vocab.ALERT_TYPES  # rainstorm, typhoon, snow, heat, fog
N_TYPES = len(TYPES)
N_LEVELS = 5
N_STATES = 1 + N_TYPES * (N_LEVELS - 1)
"""State 0 is "no alert"; state ``1 + type * 4 + (level - 1)`` an alert of that type and level."""

LEADS = (1, 2, 3)
ISSUE_HOUR = 10.0
OBSERVED_HOUR = 12.0
DAYS_BEFORE = 3
DAYS_AFTER = 45
"""Weather is simulated this many days past the last order day so late parcels still see some."""

# Level given an alert, per type: typhoons are rarely mild, fog rarely red.
LEVEL_GIVEN_ALERT = np.array(
    [
        [0.40, 0.30, 0.20, 0.10],  # rainstorm
        [0.15, 0.30, 0.32, 0.23],  # typhoon
        [0.40, 0.30, 0.20, 0.10],  # snow
        [0.40, 0.35, 0.20, 0.05],  # heat
        [0.50, 0.30, 0.15, 0.05],  # fog
    ]
)
LEVEL_HOURS = np.array([0.0, 2.0, 9.0, 22.0, 48.0])
TYPE_HOURS_FACTOR = np.array([1.0, 1.7, 1.4, 0.35, 0.7])


def state_index(wtype: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The state index of (type, level) pairs (0 when level is 0)."""
    return np.where(level > 0, 1 + wtype.astype(np.int64) * 4 + (level.astype(np.int64) - 1), 0)


STATE_LEVEL = np.concatenate([[0], np.tile(np.arange(1, N_LEVELS), N_TYPES)])
STATE_TYPE = np.concatenate([[-1], np.repeat(np.arange(N_TYPES), N_LEVELS - 1)])
STATE_HOURS = np.where(
    STATE_LEVEL > 0, LEVEL_HOURS[STATE_LEVEL] * TYPE_HOURS_FACTOR[np.maximum(STATE_TYPE, 0)], 0.0
)
"""Hours a parcel is held at a place with this weather (before the journey's noise factor)."""


def confusion(lead: int) -> np.ndarray:
    """P(forecast level | true level) at a lead of 1–3 days, shape (5, 5) [true, forecast]."""
    false_alarm = (0.010, 0.016, 0.022)[lead - 1]
    miss = (0.05, 0.12, 0.22)[lead - 1]
    exact = (0.72, 0.58, 0.46)[lead - 1]
    matrix = np.zeros((N_LEVELS, N_LEVELS))
    matrix[0] = [1 - false_alarm, false_alarm * 0.6, false_alarm * 0.3, false_alarm * 0.1, 0]
    for s in range(1, N_LEVELS):
        matrix[s, 0] = miss
        matrix[s, s] = exact
        neighbours = [f for f in (s - 1, s + 1) if 1 <= f < N_LEVELS]
        for f in neighbours:
            matrix[s, f] += (1 - miss - exact) / len(neighbours)
    return matrix


CONFUSION = np.stack([confusion(h) for h in LEADS])  # (lead, true, forecast)


@dataclass(frozen=True)
class WeatherWorld:
    """Simulated weather. Arrays are indexed ``[city, day + DAYS_BEFORE]``."""

    start: pd.Timestamp
    n_days: int
    alert_prob: np.ndarray  # (C, D) prior P(level > 0)
    type_prob: np.ndarray  # (C, D, T) prior P(type)
    wtype: np.ndarray  # (C, D) int8 the day's hazard type (meaningful when level > 0)
    level: np.ndarray  # (C, D) int8 observed alert level
    forecast_level: np.ndarray  # (C, D, lead) int8 forecast level for that day at that lead

    def index(self, day: np.ndarray) -> np.ndarray:
        """Array column of a simulated day (clipped to the simulated range)."""
        return np.clip(day + DAYS_BEFORE, 0, self.level.shape[1] - 1)

    def state(self, city: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The realised state index at (city, day)."""
        d = self.index(day)
        return state_index(self.wtype[city, d], self.level[city, d])

    def prior_states(self, city: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Climate prior over states, shape (n, N_STATES)."""
        d = self.index(day)
        alert = self.alert_prob[city, d]
        types = self.type_prob[city, d]  # (n, T)
        joint = alert[:, None, None] * types[:, :, None] * LEVEL_GIVEN_ALERT[None]
        return np.concatenate([(1 - alert)[:, None], joint.reshape(len(city), -1)], axis=1)

    def posterior_states(self, city: np.ndarray, day: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        """P(state at (city, day) | everything published by ``as_of`` hours), shape (n, N_STATES).

        Published are the forecasts issued by then (their levels, and the day's hazard type
        whenever one of them warns) and, once it is out, the day's observation itself.
        """
        d = self.index(day)
        post = self.prior_states(city, day)
        revealed = np.zeros(len(city), dtype=bool)
        for k, lead in enumerate(LEADS):
            issued = (day - lead) * 24.0 + ISSUE_HOUR <= as_of
            f = self.forecast_level[city, d, k].astype(np.int64)
            like = CONFUSION[k][:, f].T  # (n, 5) over true levels
            like = np.where(issued[:, None], like, 1.0)
            post *= like[:, STATE_LEVEL]
            revealed |= issued & (f > 0)
        # A warning names the hazard: only states of that type (or no alert) remain possible.
        true_type = self.wtype[city, d]
        wrong_type = (STATE_TYPE[None, :] >= 0) & (STATE_TYPE[None, :] != true_type[:, None])
        post = np.where(revealed[:, None] & wrong_type, 0.0, post)
        observed = day * 24.0 + OBSERVED_HOUR <= as_of
        if observed.any():
            exact = np.zeros_like(post)
            exact[np.arange(len(city)), state_index(true_type, self.level[city, d])] = 1.0
            post = np.where(observed[:, None], exact, post)
        return post / post.sum(axis=1, keepdims=True)

    def information_level(self, day: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        """How much is published about ``day`` by ``as_of``: the number of forecasts issued
        (0–3, longest lead first) plus one once the observation is out (so 0–4)."""
        issued = sum(((day - lead) * 24.0 + ISSUE_HOUR <= as_of).astype(np.int64) for lead in LEADS)
        return issued + (day * 24.0 + OBSERVED_HOUR <= as_of)

    def posterior_table(self) -> np.ndarray:
        """:meth:`posterior_states` for every (city, day, information level), cumulative over
        states: float32 (cities, days, 5, N_STATES). Orders index it instead of recomputing."""
        n_cities, n_cols = self.level.shape
        city, col, info = np.meshgrid(
            np.arange(n_cities), np.arange(n_cols), np.arange(5), indexing="ij"
        )
        day = col.ravel() - DAYS_BEFORE
        # A moment inside each information level: just before the first issue, at each issue,
        # at the observation.
        moments = np.stack(
            [(day - 3) * 24.0 + ISSUE_HOUR - 1, *[(day - lead) * 24.0 + ISSUE_HOUR for lead in (3, 2, 1)],
             day * 24.0 + OBSERVED_HOUR]
        )  # fmt: skip
        as_of = moments[info.ravel(), np.arange(day.size)]
        post = self.posterior_states(city.ravel(), day, as_of)
        return np.cumsum(post, axis=1).astype(np.float32).reshape(n_cities, n_cols, 5, N_STATES)


def simulate_weather(start: pd.Timestamp, n_days: int, rng: np.random.Generator) -> WeatherWorld:
    """Draw every city-day's hazard type and level from the climate calendar, and the forecasts
    issued for it at leads of 1, 2 and 3 days."""
    n_cities = len(geo.CITIES)
    days = np.arange(-DAYS_BEFORE, n_days + DAYS_AFTER)
    dates = start + pd.to_timedelta(days, unit="D")
    # Interpolate monthly rates through mid-month points so seasons ramp instead of stepping.
    doy = dates.dayofyear.to_numpy().astype(float)
    mid = (np.arange(12) + 0.5) * 365.25 / 12
    rates = np.zeros((n_cities, len(days), N_TYPES))
    for c, city in enumerate(geo.CITIES):
        for t, name in enumerate(TYPES):
            monthly = geo.CLIMATE[city.zone].get(name)
            if monthly is not None:
                rates[c, :, t] = np.interp(doy, mid, monthly, period=365.25)
    total = rates.sum(axis=2)
    alert_prob = np.minimum(total, 0.6)
    type_prob = np.where(
        total[..., None] > 0, rates / np.maximum(total[..., None], 1e-12), 1.0 / N_TYPES
    )
    cum = type_prob.cumsum(axis=2)
    wtype = (rng.random((n_cities, len(days), 1)) > cum).sum(axis=2).clip(0, N_TYPES - 1)
    alert = rng.random((n_cities, len(days))) < alert_prob
    level_cum = LEVEL_GIVEN_ALERT.cumsum(axis=1)[wtype]  # (C, D, 4)
    level = 1 + (rng.random((n_cities, len(days), 1)) > level_cum).sum(axis=2).clip(0, 3)
    level = np.where(alert, level, 0).astype(np.int8)
    forecast = np.zeros((n_cities, len(days), len(LEADS)), dtype=np.int8)
    for k in range(len(LEADS)):
        fcum = CONFUSION[k].cumsum(axis=1)[level]  # (C, D, 5)
        forecast[..., k] = (rng.random((n_cities, len(days), 1)) > fcum).sum(axis=2).clip(0, 4)
    return WeatherWorld(
        start=start,
        n_days=n_days,
        alert_prob=alert_prob,
        type_prob=type_prob,
        wtype=wtype.astype(np.int8),
        level=level,
        forecast_level=forecast,
    )


def _measures(
    city: np.ndarray,
    day: np.ndarray,
    level: np.ndarray,
    wtype: np.ndarray,
    world: WeatherWorld,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Precipitation, wind and temperature consistent with an alert level and type."""
    lat = np.array([c.lat for c in geo.CITIES])[city]
    date = world.start + pd.to_timedelta(day, unit="D")
    season = np.cos(2 * np.pi * (date.dayofyear.to_numpy() - 200) / 365.25)  # 1 in mid-July
    temp = (
        27
        - 0.85 * (lat - 20)
        + (4 + 0.45 * (lat - 20)) * (season - 0.3)
        + rng.normal(0, 2.5, len(city))
    )
    precip = rng.exponential(2.0, len(city)) * (rng.random(len(city)) < 0.35)
    wind = rng.gamma(3.0, 4.0, len(city))
    n = len(city)
    alert = level > 0
    is_type = {name: alert & (wtype == t) for t, name in enumerate(TYPES)}
    precip = np.where(is_type["rainstorm"], 40 * level + rng.exponential(20, n), precip)
    precip = np.where(is_type["typhoon"], 60 * level + rng.exponential(30, n), precip)
    wind = np.where(is_type["typhoon"], 55 + 30 * level + rng.normal(0, 8, n), wind)
    precip = np.where(is_type["snow"], 4 * level + rng.exponential(2, n), precip)
    temp = np.where(is_type["snow"], np.minimum(temp, -1.0 - 2.5 * level), temp)
    temp = np.where(is_type["heat"], 34.5 + 1.3 * level + rng.normal(0, 0.6, n), temp)
    wind = np.where(is_type["fog"], rng.gamma(1.5, 2.0, n), wind)
    return {
        "precip_mm": np.clip(precip, 0, 1999).round(1),
        "wind_kph": np.clip(wind, 0, 399).round(1),
        "temp_c": np.clip(temp, -59, 59).round(1),
        "alert_level": level.astype("int64"),
        "alert_type": np.where(alert, np.array(TYPES, dtype=object)[wtype], None),
    }


def weather_tables(
    world: WeatherWorld, start_us: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``weather`` (observed, one row per city-day) and ``forecasts`` source tables."""
    n_cities, n_cols = world.level.shape
    city, col = np.meshgrid(np.arange(n_cities), np.arange(n_cols), indexing="ij")
    city, col = city.ravel(), col.ravel()
    day = col - DAYS_BEFORE
    names = np.array(geo.CITY_NAMES, dtype=object)
    observed = pd.DataFrame(
        {
            "city": names[city],
            "observed_at": to_timestamp(day * 24.0 + OBSERVED_HOUR, start_us),
            **_measures(city, day, world.level[city, col], world.wtype[city, col], world, rng),
        }
    )
    frames = []
    for k, lead in enumerate(LEADS):
        keep = day - lead >= -DAYS_BEFORE
        c, d, dd = city[keep], col[keep], day[keep]
        frames.append(
            pd.DataFrame(
                {
                    "city": names[c],
                    "issued_at": to_timestamp((dd - lead) * 24.0 + ISSUE_HOUR, start_us),
                    "valid_at": to_timestamp(dd * 24.0, start_us),
                    **_measures(
                        c, dd, world.forecast_level[c, d, k], world.wtype[c, d], world, rng
                    ),
                }
            )
        )
    forecasts = pd.concat(frames, ignore_index=True).sort_values(["issued_at", "city", "valid_at"])
    return (
        observed.sort_values(["observed_at", "city"]).reset_index(drop=True),
        forecasts.reset_index(drop=True),
    )


def to_timestamp(hours: np.ndarray, start_us: int) -> pd.Series:
    """Hours since the simulation start → ``datetime64[us, UTC]`` series."""
    micros = start_us + np.round(np.asarray(hours, dtype=float) * 3_600_000_000.0).astype(np.int64)
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")
