"""The fixed parts of the synthetic world: cities, climate, warehouses, hubs, carriers, channels,
categories and the promotion calendar.

Everything here is constant data plus a few pure helpers; randomness lives in the modules that
use it. Numbers are plausible rather than measured: what matters is that the parts differ from
each other in ways a model can learn (a slow carrier, a typhoon coast, a low-margin category).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens import vocab

LOCAL_UTC_OFFSET_HOURS = 8
"""China Standard Time: local business hours and promise cut-offs are in UTC+8."""


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    lon: float
    zone: str
    tier: int
    weight: float  # share of customers living there (relative)


CITIES: tuple[City, ...] = (
    City("Beijing", 39.904, 116.407, "north", 1, 9.0),
    City("Shanghai", 31.230, 121.474, "yangtze", 1, 10.0),
    City("Guangzhou", 23.129, 113.264, "south_coast", 1, 8.0),
    City("Shenzhen", 22.543, 114.058, "south_coast", 1, 8.0),
    City("Hangzhou", 30.274, 120.155, "yangtze", 2, 5.0),
    City("Nanjing", 32.060, 118.797, "yangtze", 2, 4.0),
    City("Suzhou", 31.299, 120.585, "yangtze", 2, 4.0),
    City("Wuhan", 30.593, 114.305, "central", 2, 4.5),
    City("Chengdu", 30.573, 104.066, "sichuan_basin", 2, 5.0),
    City("Chongqing", 29.563, 106.551, "sichuan_basin", 2, 4.5),
    City("Xi'an", 34.342, 108.940, "northwest", 2, 3.5),
    City("Tianjin", 39.343, 117.362, "north", 2, 3.5),
    City("Shenyang", 41.806, 123.432, "northeast", 2, 2.5),
    City("Harbin", 45.803, 126.535, "northeast", 3, 2.0),
    City("Changchun", 43.817, 125.324, "northeast", 3, 1.5),
    City("Dalian", 38.914, 121.615, "north", 3, 1.5),
    City("Qingdao", 36.067, 120.383, "north", 2, 2.5),
    City("Jinan", 36.651, 117.120, "north", 3, 2.0),
    City("Zhengzhou", 34.747, 113.625, "central", 2, 3.0),
    City("Changsha", 28.228, 112.939, "central", 2, 3.0),
    City("Nanchang", 28.683, 115.858, "central", 3, 1.5),
    City("Hefei", 31.821, 117.227, "yangtze", 3, 2.0),
    City("Fuzhou", 26.075, 119.296, "southeast_coast", 3, 2.0),
    City("Xiamen", 24.480, 118.089, "southeast_coast", 3, 1.5),
    City("Ningbo", 29.868, 121.544, "southeast_coast", 2, 2.0),
    City("Wenzhou", 28.000, 120.672, "southeast_coast", 3, 1.5),
    City("Kunming", 25.038, 102.718, "southwest", 3, 1.8),
    City("Guiyang", 26.647, 106.630, "southwest", 3, 1.2),
    City("Nanning", 22.817, 108.366, "south_coast", 3, 1.2),
    City("Haikou", 20.044, 110.199, "south_coast", 3, 0.8),
    City("Shijiazhuang", 38.042, 114.514, "north", 3, 1.5),
    City("Taiyuan", 37.870, 112.549, "north", 3, 1.2),
    City("Lanzhou", 36.061, 103.834, "northwest", 3, 0.8),
    City("Urumqi", 43.825, 87.617, "northwest", 3, 0.7),
)
CITY_NAMES: tuple[str, ...] = tuple(c.name for c in CITIES)
CITY_INDEX: dict[str, int] = {name: i for i, name in enumerate(CITY_NAMES)}

# Daily probability of an alert of each type, by climate zone and month (Jan..Dec). Typhoons hit
# the south-east coast in Jul–Sep, plum rains soak the Yangtze in Jun–Jul, the north snows in
# winter, the basin fogs in winter and the "furnace" cities bake in summer.
_M = np.zeros(12)


def _months(**rates: float) -> np.ndarray:
    out = _M.copy()
    for key, rate in rates.items():
        out[int(key[1:]) - 1] = rate
    return out


CLIMATE: dict[str, dict[str, np.ndarray]] = {
    "southeast_coast": {
        "typhoon": _months(m6=0.02, m7=0.09, m8=0.12, m9=0.10, m10=0.03),
        "rainstorm": _months(m4=0.03, m5=0.06, m6=0.08, m7=0.03, m8=0.03),
        "heat": _months(m7=0.05, m8=0.05),
        "fog": _months(m1=0.02, m2=0.04, m3=0.05, m4=0.03, m12=0.02),
    },
    "south_coast": {
        "typhoon": _months(m6=0.02, m7=0.06, m8=0.07, m9=0.06, m10=0.02),
        "rainstorm": _months(m4=0.04, m5=0.08, m6=0.09, m7=0.06, m8=0.06, m9=0.03),
        "heat": _months(m7=0.04, m8=0.04),
        "fog": _months(m1=0.02, m2=0.04, m3=0.04, m12=0.01),
    },
    "yangtze": {
        "rainstorm": _months(m5=0.02, m6=0.14, m7=0.12, m8=0.03),
        "heat": _months(m7=0.09, m8=0.10),
        "snow": _months(m1=0.03, m2=0.02, m12=0.01),
        "fog": _months(m1=0.04, m2=0.02, m11=0.02, m12=0.05),
        "typhoon": _months(m8=0.02, m9=0.02),
    },
    "central": {
        "rainstorm": _months(m6=0.10, m7=0.09, m8=0.03),
        "heat": _months(m7=0.10, m8=0.11),
        "snow": _months(m1=0.04, m2=0.02, m12=0.02),
        "fog": _months(m1=0.05, m11=0.03, m12=0.06),
    },
    "north": {
        "snow": _months(m1=0.06, m2=0.05, m3=0.01, m11=0.02, m12=0.05),
        "fog": _months(m1=0.06, m2=0.03, m10=0.02, m11=0.05, m12=0.07),
        "heat": _months(m6=0.05, m7=0.05),
        "rainstorm": _months(m7=0.06, m8=0.05),
    },
    "northeast": {
        "snow": _months(m1=0.09, m2=0.08, m3=0.04, m11=0.07, m12=0.10),
        "rainstorm": _months(m7=0.05, m8=0.05),
        "fog": _months(m11=0.02, m12=0.02),
        "typhoon": _months(m8=0.01),
    },
    "northwest": {
        "snow": _months(m1=0.05, m2=0.04, m11=0.02, m12=0.05),
        "heat": _months(m7=0.05, m8=0.03),
        "fog": _months(m1=0.04, m12=0.04),
        "rainstorm": _months(m7=0.02, m8=0.02, m9=0.02),
    },
    "sichuan_basin": {
        "fog": _months(m1=0.10, m2=0.06, m11=0.07, m12=0.11),
        "heat": _months(m7=0.08, m8=0.09),
        "rainstorm": _months(m6=0.03, m7=0.07, m8=0.06),
    },
    "southwest": {
        "rainstorm": _months(m5=0.02, m6=0.05, m7=0.06, m8=0.05),
        "fog": _months(m1=0.02, m12=0.02),
        "snow": _months(m1=0.01),
    },
}

WAREHOUSES = pd.DataFrame(
    {
        "warehouse_id": [
            f"WH-{c}" for c in ("SHA", "CAN", "PEK", "WUH", "CTU", "XIY", "SHE", "HGH")
        ],
        "city": [
            "Shanghai",
            "Guangzhou",
            "Beijing",
            "Wuhan",
            "Chengdu",
            "Xi'an",
            "Shenyang",
            "Hangzhou",
        ],
        # Capacity headroom over the warehouse's average load: a tight one backs up on promotions.
        "headroom": [1.45, 1.35, 1.50, 1.30, 1.40, 1.25, 1.30, 1.55],
        "cold_chain": [True, True, True, False, True, False, False, True],
        "pick_hours": [2.0, 2.5, 2.0, 3.0, 2.5, 3.5, 3.0, 1.8],
    }
)

HUB_CITIES: tuple[str, ...] = (
    "Shanghai",
    "Guangzhou",
    "Beijing",
    "Wuhan",
    "Zhengzhou",
    "Chengdu",
    "Xi'an",
    "Shenyang",
    "Changsha",
    "Hangzhou",
)
"""National sorting hubs; a parcel passes the one nearest its origin and, on long routes, the one
nearest its destination."""

CARRIERS = pd.DataFrame(
    {
        "carrier_id": ["SF", "JD", "ZTO", "YTO", "STO", "EMS"],
        "speed_kph": [58.0, 52.0, 40.0, 38.0, 36.0, 34.0],  # effective line-haul speed
        "air_share": [0.9, 0.6, 0.2, 0.15, 0.1, 0.3],  # express long routes flown
        "sigma": [0.34, 0.35, 0.40, 0.41, 0.43, 0.38],  # log-noise of the whole journey
        "hub_dwell_h": [3.0, 4.0, 6.0, 7.0, 7.5, 8.0],
        "hub_headroom": [1.8, 1.7, 1.45, 1.4, 1.3, 1.5],  # sorting capacity / average load
        "incident_rate": [0.006, 0.008, 0.016, 0.018, 0.022, 0.012],
        "damage_factor": [0.6, 0.7, 1.1, 1.2, 1.3, 1.0],
        "fail_factor": [0.7, 0.8, 1.1, 1.1, 1.2, 1.0],
        "cold_chain": [True, True, False, False, False, True],
        "price_per_kg_km": [0.0022, 0.0020, 0.0011, 0.0011, 0.0010, 0.0014],
    }
)

CHANNELS = pd.DataFrame(
    {
        "channel": list(vocab.CHANNELS),
        "customer_share": [0.30, 0.12, 0.16, 0.12, 0.18, 0.04, 0.08],
        "english_share": [0.15, 0.25, 0.05, 0.08, 0.12, 0.20, 0.03],
        "price_sensitivity": [0.0, -0.2, 0.3, 0.6, 0.2, -0.6, 0.8],  # shifts the latent trait
        "social_reach": [0.0, -0.3, 0.5, 0.6, -0.1, -0.5, 0.9],
        "tag_rate": [1.2, 0.6, 1.0, 0.8, 0.4, 0.5, 0.9],  # profile tags gained per order
        "partner_commission": [0.0, 0.0, 0.02, 0.15, 0.05, 0.0, 0.10],
    }
)

CATEGORIES = pd.DataFrame(
    {
        "category": list(vocab.CATEGORIES),
        "price_median": [1800, 2600, 220, 180, 120, 90, 2200, 60, 150, 400, 1500, 200],
        "price_sigma": [0.8, 0.6, 0.6, 0.6, 0.5, 0.5, 0.6, 0.5, 0.6, 0.8, 1.0, 0.6],
        "margin": [0.12, 0.18, 0.45, 0.55, 0.22, 0.15, 0.35, 0.30, 0.40, 0.32, 0.25, 0.40],
        "return_rate": [0.05, 0.03, 0.18, 0.06, 0.02, 0.02, 0.05, 0.02, 0.05, 0.08, 0.03, 0.03],
        "exchange_rate": [0.02, 0.01, 0.10, 0.02, 0.00, 0.00, 0.02, 0.00, 0.02, 0.05, 0.01, 0.01],
        "fragility": [
            0.012,
            0.020,
            0.002,
            0.010,
            0.025,
            0.006,
            0.018,
            0.003,
            0.006,
            0.006,
            0.010,
            0.006,
        ],
        "weight_kg": [1.2, 45.0, 0.6, 0.3, 4.0, 6.0, 35.0, 0.8, 1.5, 4.0, 12.0, 0.8],
        "cold_chain_rate": [0, 0, 0, 0, 1.0, 0.05, 0, 0, 0, 0, 0, 0.15],
        "customization_rate": [0.03, 0.0, 0.05, 0.02, 0, 0, 0.20, 0, 0.02, 0.04, 0.10, 0],
        "install_rate": [0.0, 0.45, 0.0, 0.0, 0.0, 0.0, 0.30, 0.0, 0.0, 0.05, 0.10, 0.0],
        "consult_rate": [0.04, 0.03, 0.0, 0.01, 0.0, 0.0, 0.01, 0.0, 0.0, 0.01, 0.25, 0.02],
        "service_fee": [99, 199, 0, 0, 0, 0, 149, 0, 0, 79, 299, 0],
        "purchase_rate": [0.8, 0.4, 1.6, 1.5, 2.0, 2.2, 0.3, 1.0, 0.9, 0.7, 1.2, 1.1],
    }
)

# Category mix per channel (rows follow CHANNELS, columns CATEGORIES): channels sell to
# different customers, so the same category arrives through different doors.
CHANNEL_CATEGORY_MIX = np.array(
    [
        [14, 8, 16, 10, 8, 10, 5, 6, 6, 7, 2, 8],  # app
        [16, 10, 12, 6, 4, 8, 8, 10, 6, 8, 4, 8],  # web
        [8, 4, 14, 10, 14, 14, 3, 5, 8, 5, 1, 14],  # wechat mini program
        [6, 4, 26, 28, 8, 4, 2, 2, 8, 6, 0, 6],  # livestream
        [14, 12, 14, 10, 5, 10, 8, 6, 7, 8, 2, 4],  # marketplace
        [12, 8, 2, 1, 2, 6, 8, 3, 1, 2, 52, 3],  # b2b portal
        [2, 2, 8, 8, 34, 28, 1, 2, 6, 2, 0, 7],  # social group buy
    ],
    dtype=float,
)
CHANNEL_CATEGORY_MIX /= CHANNEL_CATEGORY_MIX.sum(axis=1, keepdims=True)

PROMOTIONS: dict[str, tuple[int, int, float]] = {
    # name: (month, day, peak volume multiplier)
    "618": (6, 18, 4.0),
    "double_11": (11, 11, 6.0),
    "double_12": (12, 12, 3.0),
}
PROMO_WARMUP_DAYS = 10
"""Volume and presales ramp up over the days before a promotion peak."""


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of points (degrees)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def city_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of every city, in :data:`CITIES` order."""
    return (np.array([c.lat for c in CITIES]), np.array([c.lon for c in CITIES]))


def city_distance_km() -> np.ndarray:
    """Road distance between cities (great circle × 1.25), shape (n_cities, n_cities)."""
    lat, lon = city_arrays()
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    return d * 1.25


def promotion_days(start: pd.Timestamp, n_days: int) -> pd.DataFrame:
    """Per simulated day: the promotion it belongs to (or ""), its volume multiplier, whether it
    is a peak day and the day index of the promotion's peak (for presale release).

    Returns:
        Frame of ``n_days`` rows: ``promo``, ``multiplier``, ``is_peak``, ``peak_day``.
    """
    dates = pd.date_range(start, periods=n_days, freq="D")
    promo = np.full(n_days, "", dtype=object)
    multiplier = np.ones(n_days)
    peak_day = np.full(n_days, -1)
    is_peak = np.zeros(n_days, dtype=bool)
    for year in sorted(set(dates.year) | {dates[-1].year + 1}):
        for name, (month, day, peak) in PROMOTIONS.items():
            peak_date = pd.Timestamp(year=year, month=month, day=day)
            offset = (dates - peak_date).days.to_numpy()
            warm = (offset >= -PROMO_WARMUP_DAYS) & (offset <= 1)
            # Volume ramps up towards the peak, spikes on it and stays high the day after.
            ramp = np.where(
                offset == 0,
                peak,
                np.where(
                    offset == 1,
                    1 + (peak - 1) * 0.35,
                    1 + (peak - 1) * 0.25 * (1 + offset / PROMO_WARMUP_DAYS),
                ),
            )
            multiplier = np.where(warm, np.maximum(multiplier, ramp), multiplier)
            promo = np.where(warm, name, promo)
            peak_day = np.where(warm, offset * -1 + np.arange(n_days), peak_day)
            is_peak |= offset == 0
    return pd.DataFrame(
        {"promo": promo, "multiplier": multiplier, "is_peak": is_peak, "peak_day": peak_day}
    )


def spring_festival_factor(start: pd.Timestamp, n_days: int) -> np.ndarray:
    """Warehouse/carrier staffing factor per day: staff go home around the Spring Festival."""
    # Lunar new year dates for the years the simulator is likely to cover.
    new_year = {
        2024: "2024-02-10",
        2025: "2025-01-29",
        2026: "2026-02-17",
        2027: "2027-02-06",
        2028: "2028-01-26",
    }
    dates = pd.date_range(start, periods=n_days, freq="D")
    factor = np.ones(n_days)
    for day in new_year.values():
        offset = (dates - pd.Timestamp(day)).days.to_numpy()
        factor = np.where((offset >= -5) & (offset <= 8), np.minimum(factor, 0.55), factor)
    return factor
