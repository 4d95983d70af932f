"""Value outcomes: what each order turned into, from latent customer traits and the delivery
experience (late lowers the review and the repeat purchase; a timely warning wins part back).

Two steps, because tickets sit in between: :func:`draw_returns` (returns and exchanges, which
tickets talk about) and :func:`finish_outcomes` (everything else, including the service minutes
the tickets cost). The oracle calls both on its replicas, so realised and expected values come
from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens import vocab
from simulator import geography as geo
from simulator.delivery import Plan, Timeline
from simulator.orders import HOURS_PER_DAY, Customers, OrderDraw

AUTO_CONFIRM_DAYS = 7.0
RETURN_WINDOW_DAYS = 7.0


@dataclass(frozen=True)
class Returns:
    returned: np.ndarray
    exchanged: np.ndarray


def draw_returns(
    orders: OrderDraw, customers: Customers, timeline: Timeline, rng: np.random.Generator
) -> Returns:
    """Returns and exchanges: category habits, price-sensitive customers, late and damaged
    parcels send more back; customised goods rarely come back."""
    cats = geo.CATEGORIES
    n = len(orders.category)
    sens = customers.price_sensitivity[orders.customer]
    very_late = timeline.late_hours > 24
    p_return = (
        cats["return_rate"].to_numpy()[orders.category] * np.exp(0.3 * sens) * (1 + 0.8 * very_late)
    )
    p_return = np.where(timeline.damaged, 0.55, p_return)
    p_return = np.where(orders.frame["needs_customization"].to_numpy(), 0.2 * p_return, p_return)
    returned = rng.random(n) < np.minimum(p_return, 0.9)
    p_exchange = cats["exchange_rate"].to_numpy()[orders.category] + 0.25 * timeline.damaged
    exchanged = ~returned & (rng.random(n) < p_exchange)
    return Returns(returned=returned, exchanged=exchanged)


def finish_outcomes(
    orders: OrderDraw,
    customers: Customers,
    plan: Plan,
    timeline: Timeline,
    returns: Returns,
    minutes: np.ndarray,
    n_intents: np.ndarray,
    rng: np.random.Generator,
    *,
    review_all: bool = False,
) -> dict[str, np.ndarray]:
    """Every outcome column of the contract (times in hours since start), as arrays.

    Args:
        minutes: customer-service minutes per order (from the ticket intents).
        n_intents: intents raised per order.
        review_all: score every order (the oracle's replicas) — whether a customer reviews depends
            only on a latent habit, so this does not change the expected score.
    """
    f = orders.frame
    cats, channels = geo.CATEGORIES, geo.CHANNELS
    n = len(f)
    cust = orders.customer
    value = f["order_value"].to_numpy()
    net = value - f["discount"].to_numpy()
    cat = orders.category
    loyalty = customers.loyalty[cust]
    late_h = np.maximum(timeline.late_hours, 0.0)
    late = timeline.late_hours > 0
    notified = timeline.notified
    damaged = timeline.damaged
    failed = timeline.attempts > 1
    returned, exchanged = returns.returned, returns.exchanged

    refund_share = np.where(
        returned,
        rng.uniform(0.85, 1.0, n),
        np.where(damaged & (rng.random(n) < 0.6), rng.uniform(0.1, 0.4, n), 0.0),
    )
    refunded = np.round(np.minimum(net * refund_share, value), 2)

    # Lateness hurts in proportion to how late, and a warning takes the edge off it.
    late_pain = late * np.minimum(0.4 + late_h / 48, 1.4) * np.where(notified, 0.5, 1.0)
    score_mean = (
        4.45 + 0.3 * loyalty - 1.1 * late_pain - 1.6 * damaged - 0.35 * failed - 0.3 * returned
        + 0.1 * customers.is_b2b[cust]
    )  # fmt: skip
    score = np.clip(np.round(score_mean + rng.normal(0, 0.6, n)), 1, 5)
    reviewed = review_all | (rng.random(n) < 0.8 * customers.review_propensity[cust])
    review = np.where(reviewed, score, np.nan)

    experience = (
        np.where(late, 0.55 + 0.25 * notified, 1.0) * np.where(damaged, 0.6, 1.0)
        * np.where(failed, 0.9, 1.0)
    )  # fmt: skip
    rate = cats["purchase_rate"].to_numpy()[cat]
    lam_repeat = (
        0.55 * rate * np.exp(0.5 * loyalty) * experience * (1 + 0.3 * customers.is_b2b[cust])
    )
    repeat = rng.poisson(lam_repeat)
    cross = rng.binomial(repeat, np.clip(0.4 + 0.1 * np.tanh(loyalty), 0, 1))
    spend_before = orders.spend_180d_before
    # Spend carries on from the customer's recent spend (more so when loyal); new spend follows
    # the spend level; a bad experience shrinks both.
    recent = spend_before * (0.8 + 0.2 * experience) * np.exp(0.1 * loyalty)
    fresh = (0.4 * net + 250 * np.exp(0.5 * customers.spend_level[cust])) * np.exp(0.3 * loyalty)
    spend_mean = recent + fresh * experience
    spend_after = np.round(spend_mean * rng.gamma(4.0, 0.25, n), 2)
    tags = rng.poisson(
        channels["tag_rate"].to_numpy()[orders.channel] * 0.8 + 0.3 * (n_intents > 0)
    )
    referral_mean = (
        0.05 * np.exp(0.7 * customers.social_reach[cust]) * np.maximum(score_mean - 2.5, 0.1)
    )
    referrals = rng.poisson(referral_mean)

    fee = cats["service_fee"].to_numpy()[cat]
    p_attach = (
        cats["install_rate"].to_numpy()[cat] * 0.7 + cats["consult_rate"].to_numpy()[cat] * 0.4
    ) * np.where(late, 0.85, 1.0) + 0.04 * (fee > 0)
    attach = np.round(np.where(rng.random(n) < p_attach, fee * rng.uniform(0.8, 1.2, n), 0.0), 2)
    commission = channels["partner_commission"].to_numpy()[orders.channel]
    partner = np.round(0.7 * attach + commission * np.maximum(net - refunded, 0), 2)

    n_items = f["n_items"].to_numpy()
    cold = f["cold_chain"].to_numpy()
    bulky = np.isin(
        cat, [vocab.CATEGORIES.index("home_appliances"), vocab.CATEGORIES.index("furniture")]
    )
    packing = np.round(
        1.5 + 0.6 * n_items**0.7 + 8 * cold + 5 * f["has_gift"].to_numpy() + 15 * bulky, 2
    )
    expedite = np.round(np.where(timeline.expedited, 20 + 0.015 * orders.distance_km, 0.0), 2)
    auto_comp = orders.service >= vocab.SERVICE_LEVELS.index("express")
    compensation = np.where(
        late & (late_h > 2) & (auto_comp | (n_intents > 0)), 5 + 0.4 * np.minimum(late_h, 96), 0.0
    ) + 10.0 * (damaged & ~returned)
    compensation = np.round(compensation, 2)
    freight = f["freight_cost"].to_numpy()
    reverse = np.round(
        returned * (1.1 * freight + 8) + exchanged * (2 * freight + 8) + failed * 6.0, 2
    )

    weight = cats["weight_kg"].to_numpy()[cat] * n_items**0.8
    per_tkm = np.where(plan.flown, 1.1, 0.11)  # kg CO2e per tonne-km: air vs road
    carbon = (
        (weight + 0.3) / 1000 * orders.distance_km * per_tkm * (1 + returned + exchanged)
        + 0.25 * timeline.attempts + 0.05 * np.sqrt(n_items) + 0.6 * cold
    )  # fmt: skip

    delivered = timeline.delivered
    payment = f["payment_method"].to_numpy()
    confirm = delivered + HOURS_PER_DAY * AUTO_CONFIRM_DAYS * rng.uniform(0.1, 1.0, n)
    cash = np.select(
        [payment == "cash_on_delivery", payment == "bank_transfer", payment == "credit_terms"],
        [
            delivered + HOURS_PER_DAY * rng.uniform(1, 3, n),
            plan.created + HOURS_PER_DAY * rng.uniform(1, 4, n),
            delivered + HOURS_PER_DAY * (30 + rng.exponential(8, n)),
        ],
        default=confirm,
    )
    settled = confirm + HOURS_PER_DAY * RETURN_WINDOW_DAYS * (returned | exchanged)
    return {
        "delivered_at": delivered,
        "settled_at": settled,
        "delivery_attempts": timeline.attempts.astype("int64"),
        "returned": returned,
        "exchanged": exchanged,
        "refunded_amount": refunded,
        "review_score": review,
        "repeat_orders_90d": repeat.astype("int64"),
        "spend_180d_before": spend_before,
        "spend_180d_after": spend_after,
        "profile_tags_gained": tags.astype("int64"),
        "referrals": referrals.astype("int64"),
        "service_attach_revenue": attach,
        "partner_revenue_share": partner,
        "cross_category_orders_90d": cross.astype("int64"),
        "packing_cost": packing,
        "expedite_cost": expedite,
        "compensation_cost": compensation,
        "reverse_logistics_cost": reverse,
        "service_minutes": np.round(minutes, 1),
        "cash_collected_at": cash,
        "carbon_kg": np.round(carbon, 3),
        "notified_before_delay": notified,
    }


TIME_COLUMNS = ("delivered_at", "settled_at", "cash_collected_at")


def outcomes_frame(order_id: np.ndarray, columns: dict[str, np.ndarray], start_us: int, to_ts):
    """The ``outcomes`` source table from :func:`finish_outcomes` arrays."""
    data = {"order_id": order_id}
    for name, values in columns.items():
        data[name] = to_ts(values, start_us) if name in TIME_COLUMNS else values
        if name == "delivered_at":  # every simulated order arrives (the contract allows others)
            data["status"] = np.full(len(order_id), "delivered", dtype=object)
    return pd.DataFrame(data)
