"""Customers (with latent traits) and the order stream: when orders arrive and what they are.

Customers are few relative to orders (a quarter as many) with heavy-tailed activity, so most
orders come from repeat customers. Their latent traits (loyalty, spend level, social reach, price
sensitivity) drive the order mix and, later, the value outcomes; they are never written to a
source table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens import vocab
from simulator import geography as geo

HOURS_PER_DAY = 24.0
ACTIVITY_TAIL = 1.15
"""A customer's ordering activity is ``min(1 + Lomax(ACTIVITY_TAIL), ACTIVITY_CAP)`` times
``exp(ACTIVITY_LOYALTY * loyalty)``: heavy-tailed, and higher for loyal customers."""
ACTIVITY_CAP = 400.0
ACTIVITY_LOYALTY = 0.4
SPEND_PRICE_EFFECT = 0.25
"""Log unit price rises by this per unit of the customer's (latent) spend level."""
DISCOUNT_SENSITIVITY = 0.08
"""A discount's rate rises by up to this times sigmoid(price sensitivity) above its base."""

# Share of orders per local hour: quiet nights, a lunch bump and an evening peak.
LOCAL_HOUR_PROFILE = np.array(
    [1.2, 0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6,
     1.7, 1.5, 1.4, 1.4, 1.5, 1.5, 1.6, 1.9, 2.3, 2.5, 2.3, 1.8]
)  # fmt: skip
WEEKDAY_FACTOR = np.array([1.0, 0.97, 0.97, 1.0, 1.05, 1.12, 1.10])


@dataclass(frozen=True)
class Customers:
    """Customer attributes; the ``latent`` ones are hidden from every source table."""

    channel: np.ndarray  # preferred sales channel index
    home_city: np.ndarray
    language: np.ndarray  # object: "en" / "zh"
    is_b2b: np.ndarray
    ticket_channel: np.ndarray  # preferred contact channel index into vocab.TICKET_CHANNELS
    loyalty: np.ndarray  # latent
    spend_level: np.ndarray  # latent
    social_reach: np.ndarray  # latent
    price_sensitivity: np.ndarray  # latent
    review_propensity: np.ndarray  # latent

    def __len__(self) -> int:
        return len(self.channel)


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (n, k), vectorised by inverse CDF."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return (rng.random((len(probs), 1)) > cum).sum(axis=1).clip(0, probs.shape[1] - 1)


def simulate_customers(n_customers: int, rng: np.random.Generator) -> Customers:
    """Draw customers and their (latent) traits; channels attract different customers."""
    ch = geo.CHANNELS
    channel = rng.choice(len(ch), n_customers, p=ch["customer_share"] / ch["customer_share"].sum())
    weights = np.array([c.weight for c in geo.CITIES])
    home = rng.choice(len(weights), n_customers, p=weights / weights.sum())
    english = rng.random(n_customers) < ch["english_share"].to_numpy()[channel]
    is_b2b = channel == vocab.CHANNELS.index("b2b_portal")
    contact = np.tile([0.45, 0.2, 0.1, 0.25], (n_customers, 1))
    contact[is_b2b] = [0.2, 0.25, 0.5, 0.05]
    return Customers(
        channel=channel,
        home_city=home,
        language=np.where(english, "en", "zh").astype(object),
        is_b2b=is_b2b,
        ticket_channel=_pick(rng, contact),
        loyalty=rng.normal(0, 1, n_customers),
        spend_level=rng.normal(0, 1, n_customers) + 0.8 * is_b2b,
        social_reach=rng.normal(ch["social_reach"].to_numpy()[channel], 1),
        price_sensitivity=rng.normal(ch["price_sensitivity"].to_numpy()[channel], 1),
        review_propensity=rng.beta(2, 3, n_customers),
    )


def arrival_hours(
    n_orders: int, start: pd.Timestamp, n_days: int, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """Creation times (hours since start, sorted) with seasonality, weekdays and promotions.

    Returns:
        The sorted hours and the per-day promotion frame from :func:`geography.promotion_days`.
    """
    promos = geo.promotion_days(start, n_days)
    dates = pd.date_range(start, periods=n_days, freq="D")
    trend = 1 + 0.15 * np.arange(n_days) / 365
    festival = 0.6 + 0.4 * geo.spring_festival_factor(start, n_days)  # shoppers stay home too
    intensity = WEEKDAY_FACTOR[dates.dayofweek] * trend * festival * promos["multiplier"].to_numpy()
    per_day = rng.multinomial(n_orders, intensity / intensity.sum())
    day = np.repeat(np.arange(n_days), per_day)
    # Hour of day in UTC, weighted by the local-time profile; peak days open with a midnight rush.
    utc_profile = np.roll(LOCAL_HOUR_PROFILE, -geo.LOCAL_UTC_OFFSET_HOURS)
    peak_profile = utc_profile.copy()
    peak_profile[(0 - geo.LOCAL_UTC_OFFSET_HOURS) % 24] *= 6
    is_peak = promos["is_peak"].to_numpy()[day]
    profiles = np.where(is_peak[:, None], peak_profile, utc_profile)
    hour = _pick(rng, profiles)
    hours = day * HOURS_PER_DAY + hour + rng.random(n_orders)
    return np.sort(hours), promos


@dataclass(frozen=True)
class OrderDraw:
    """The order stream as index arrays (internal) plus the public ``orders`` frame."""

    frame: pd.DataFrame
    created_h: np.ndarray
    customer: np.ndarray
    channel: np.ndarray
    category: np.ndarray
    dest_region: np.ndarray
    warehouse: np.ndarray
    carrier: np.ndarray
    service: np.ndarray
    distance_km: np.ndarray
    presale_release_h: np.ndarray  # hour the goods become available (== created_h unless presale)
    promo: np.ndarray  # object: promotion name or ""
    spend_180d_before: np.ndarray
    discount_base: np.ndarray  # discount rate before the customer's price sensitivity
    activity_total: float  # sum of every customer's ordering activity (the oracle's normaliser)


def _service_probs(distance: np.ndarray, tier: np.ndarray, category: np.ndarray, b2b: np.ndarray):
    probs = np.tile([0.18, 0.52, 0.22, 0.08], (len(distance), 1))
    fresh = category == vocab.CATEGORIES.index("fresh_food")
    probs[fresh] = [0.0, 0.15, 0.45, 0.40]
    probs[b2b] = [0.45, 0.40, 0.12, 0.03]
    far = (distance > 1100) | (tier >= 3)
    probs[:, 3] = np.where(far, 0.0, probs[:, 3])
    return probs


# Carrier preference per channel (rows CHANNELS, columns CARRIERS).
_CARRIER_BY_CHANNEL = np.array(
    [
        [3, 3, 3, 2.5, 2, 1],
        [3, 4, 2, 2, 1.5, 1.5],
        [2, 2, 3, 3, 2.5, 1],
        [1.5, 1, 3.5, 3.5, 3.5, 0.5],
        [2, 3, 3, 2.5, 2, 1.5],
        [2, 3, 1, 1, 0.5, 3],
        [1, 1.5, 3.5, 3, 3.5, 1],
    ]
)
_CARRIER_BY_SERVICE = np.array(
    [
        [0.3, 0.6, 1.5, 1.5, 1.6, 1.2],  # economy
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # standard
        [2.5, 2.0, 0.6, 0.5, 0.4, 0.8],  # express
        [4.0, 3.0, 0.2, 0.2, 0.1, 0.4],  # next_day
    ]
)


def simulate_orders(
    n_orders: int,
    start: pd.Timestamp,
    n_days: int,
    customers: Customers,
    rng: np.random.Generator,
) -> OrderDraw:
    """Draw the order stream: arrival times, who orders what from where, and the money."""
    created, promos = arrival_hours(n_orders, start, n_days, rng)
    day = np.floor(created / HOURS_PER_DAY).astype(np.int64)
    activity = np.minimum(rng.pareto(ACTIVITY_TAIL, len(customers)) + 1, ACTIVITY_CAP) * np.exp(
        ACTIVITY_LOYALTY * customers.loyalty
    )
    customer = rng.choice(len(customers), n_orders, p=activity / activity.sum())
    cust_channel = customers.channel[customer]
    market = geo.CHANNELS["customer_share"].to_numpy()
    stray = rng.random(n_orders) < 0.15
    channel = np.where(
        stray, rng.choice(len(market), n_orders, p=market / market.sum()), cust_channel
    )
    b2b = customers.is_b2b[customer]
    channel = np.where(b2b, cust_channel, channel)
    category = _pick(rng, geo.CHANNEL_CATEGORY_MIX[channel])
    cat = geo.CATEGORIES.iloc
    cats = geo.CATEGORIES

    weights = np.array([c.weight for c in geo.CITIES])
    dest = np.where(
        rng.random(n_orders) < 0.9,
        customers.home_city[customer],
        rng.choice(len(weights), n_orders, p=weights / weights.sum()),
    )
    lat, lon = geo.city_arrays()
    dest_lat = lat[dest] + rng.normal(0, 0.06, n_orders)
    dest_lon = lon[dest] + rng.normal(0, 0.06, n_orders)

    cold = rng.random(n_orders) < cats["cold_chain_rate"].to_numpy()[category]
    custom = rng.random(n_orders) < cats["customization_rate"].to_numpy()[category]

    # Nearest warehouse that can serve the order; stock-outs send it to the next one.
    wh_city = np.array([geo.CITY_INDEX[c] for c in geo.WAREHOUSES["city"]])
    dist_cw = geo.city_distance_km()[:, wh_city]  # (cities, warehouses)
    wh_cold = geo.WAREHOUSES["cold_chain"].to_numpy()
    penalty = np.where(cold[:, None] & ~wh_cold[None, :], 1e6, 0.0)
    ranked = np.argsort(dist_cw[dest] + penalty, axis=1)
    u = rng.random(n_orders)
    choice = np.where(u < 0.78, 0, np.where(u < 0.95, 1, 2))
    choice = np.where(cold, 0, choice)
    warehouse = ranked[np.arange(n_orders), choice]
    distance = np.maximum(dist_cw[dest, warehouse], 25.0) + rng.uniform(0, 30, n_orders)

    tier = np.array([c.tier for c in geo.CITIES])[dest]
    service = _pick(rng, _service_probs(distance, tier, category, b2b))

    cold_ok = geo.CARRIERS["cold_chain"].to_numpy()
    carrier_w = _CARRIER_BY_CHANNEL[channel] * _CARRIER_BY_SERVICE[service]
    carrier_w = np.where(cold[:, None] & ~cold_ok[None, :], 0.0, carrier_w)
    carrier = _pick(rng, carrier_w)

    promo = promos["promo"].to_numpy()[day]
    in_promo = promo != ""
    is_peak = promos["is_peak"].to_numpy()[day]
    presale_cats = np.isin(
        category,
        [
            vocab.CATEGORIES.index(c)
            for c in ("electronics", "home_appliances", "beauty", "apparel")
        ],
    )
    presale = (
        in_promo & ~is_peak & (rng.random(n_orders) < np.where(presale_cats, 0.3, 0.06)) & ~cold
    )
    # Presale goods ship from the evening of the promotion's peak day (20:00 local).
    release = promos["peak_day"].to_numpy()[day] * HOURS_PER_DAY + 20 - geo.LOCAL_UTC_OFFSET_HOURS
    release_h = np.where(presale, np.maximum(release, created), created)

    spend = customers.spend_level[customer]
    n_items = np.where(b2b, rng.geometric(0.12, n_orders), rng.geometric(0.62, n_orders)).clip(
        1, 500
    )
    unit = np.exp(
        np.log(cats["price_median"].to_numpy()[category])
        + SPEND_PRICE_EFFECT * spend
        + cats["price_sigma"].to_numpy()[category] * rng.normal(0, 1, n_orders)
    )
    value = np.round(np.maximum(unit * n_items**0.85, 1.0), 2)
    sens = 1 / (1 + np.exp(-customers.price_sensitivity[customer]))
    base_rate = 0.02 + 0.10 * in_promo + 0.08 * is_peak
    rate = base_rate + DISCOUNT_SENSITIVITY * sens * rng.random(n_orders)
    discount = np.round(
        value * np.minimum(rate, 0.6) * (rng.random(n_orders) < 0.35 + 0.5 * in_promo), 2
    )

    payment = _payments(rng, channel, b2b, tier)
    weight = cats["weight_kg"].to_numpy()[category] * n_items**0.8
    freight = np.round(
        6
        + weight * distance * geo.CARRIERS["price_per_kg_km"].to_numpy()[carrier]
        + np.array([0.0, 2.0, 8.0, 12.0])[service]
        + 6 * cold,
        2,
    )
    margin = cats["margin"].to_numpy()[category]
    cogs = np.round(value * (1 - margin) * np.exp(rng.normal(0, 0.05, n_orders)), 2)
    gift = rng.random(n_orders) < 0.04 + 0.12 * in_promo
    del cat

    origin_region = geo.WAREHOUSES["city"].to_numpy()[warehouse]
    city_lat, city_lon = geo.city_arrays()
    city_index = {name: i for i, name in enumerate(geo.CITY_NAMES)}
    origin = np.array([city_index[c] for c in geo.WAREHOUSES["city"]])[warehouse]
    origin_lat, origin_lon = city_lat[origin].round(5), city_lon[origin].round(5)
    frame = pd.DataFrame(
        {
            "order_id": _ids("OL", n_orders, 9),
            "customer_id": _ids("C", len(customers), 7)[customer],
            "created_at": None,  # filled by the world (needs the start timestamp)
            "channel": np.array(vocab.CHANNELS, dtype=object)[channel],
            "warehouse_id": geo.WAREHOUSES["warehouse_id"].to_numpy()[warehouse],
            "origin_region": origin_region,
            "origin_lat": origin_lat,
            "origin_lon": origin_lon,
            "dest_region": np.array(geo.CITY_NAMES, dtype=object)[dest],
            "dest_lat": dest_lat.round(5),
            "dest_lon": dest_lon.round(5),
            "carrier_id": geo.CARRIERS["carrier_id"].to_numpy()[carrier],
            "service_level": np.array(vocab.SERVICE_LEVELS, dtype=object)[service],
            "promised_at": None,
            "n_items": n_items.astype("int64"),
            "category": np.array(vocab.CATEGORIES, dtype=object)[category],
            "order_value": value,
            "discount": discount,
            "freight_cost": freight,
            "cogs": cogs,
            "payment_method": np.array(vocab.PAYMENT_METHODS, dtype=object)[payment],
            "is_presale": presale,
            "needs_customization": custom,
            "cold_chain": cold,
            "has_gift": gift,
            "is_b2b": b2b,
        }
    )
    return OrderDraw(
        frame=frame,
        created_h=created,
        customer=customer,
        channel=channel,
        category=category,
        dest_region=dest,
        warehouse=warehouse,
        carrier=carrier,
        service=service,
        distance_km=distance,
        presale_release_h=release_h,
        promo=promo,
        spend_180d_before=spend_before(customer, created, value),
        discount_base=base_rate,
        activity_total=float(activity.sum()),
    )


def _payments(rng: np.random.Generator, channel: np.ndarray, b2b: np.ndarray, tier: np.ndarray):
    n = len(channel)
    # alipay, wechat_pay, card, cash_on_delivery, bank_transfer, credit_terms
    probs = np.tile([0.50, 0.33, 0.10, 0.05, 0.02, 0.0], (n, 1))
    wechat = np.isin(
        channel,
        [vocab.CHANNELS.index("wechat_mini_program"), vocab.CHANNELS.index("social_group_buy")],
    )
    probs[wechat] = [0.12, 0.80, 0.03, 0.05, 0.0, 0.0]
    probs[:, 3] = np.where(tier >= 3, probs[:, 3] * 2.5, probs[:, 3])
    probs[b2b] = [0.08, 0.02, 0.0, 0.0, 0.5, 0.4]
    return _pick(rng, probs)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def spend_before(customer: np.ndarray, created_h: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The customer's order value in the 180 days before each order (from the stream itself)."""
    order = np.lexsort((created_h, customer))
    cust, t, v = customer[order], created_h[order], value[order]
    key = cust * 1e6 + t  # hours stay far below 1e6, so the key sorts by customer then time
    cum = np.concatenate([[0.0], np.cumsum(v)])
    left = np.searchsorted(key, key - 180 * HOURS_PER_DAY, side="left")
    out = np.empty_like(value)
    out[order] = cum[np.arange(len(v))] - cum[left]
    return np.round(out, 2)
