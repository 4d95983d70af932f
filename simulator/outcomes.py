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
from scipy.special import ndtr

from orderlens import vocab
from simulator import geography as geo
from simulator.delivery import Plan, Timeline
from simulator.orders import HOURS_PER_DAY, Customers, OrderDraw

AUTO_CONFIRM_DAYS = 7.0
RETURN_WINDOW_DAYS = 7.0


@dataclass(frozen=True)
class Returns:
    """Which orders came back, and how likely it was (the oracle's replicas use the chances)."""

    returned: np.ndarray
    exchanged: np.ndarray
    p_return: np.ndarray | None = None
    p_exchange: np.ndarray | None = None


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
    p_return = np.minimum(p_return, 0.9)
    returned = rng.random(n) < p_return
    p_exchange = np.minimum(
        cats["exchange_rate"].to_numpy()[orders.category] + 0.25 * timeline.damaged, 1.0
    )
    exchanged = ~returned & (rng.random(n) < p_exchange)
    return Returns(returned, exchanged, p_return, p_exchange)


REVIEW_NOISE = 0.6
"""Standard deviation of a review score around its mean, before rounding to 1-5 stars."""
RETURN_REFUND = (0.85, 1.0)
"""Share of the net paid back on a return (uniform)."""
DAMAGE_REFUND = (0.6, 0.1, 0.4)
"""A damaged parcel kept: refunded with this chance, a share of the net uniform in (lo, hi)."""
ATTACH_PRICE = (0.8, 1.2)
"""Attached service revenue: the category's fee times a uniform factor."""


@dataclass(frozen=True)
class OutcomeMeans:
    """Everything an order's outcomes follow from, before the last independent draws (review
    noise, Poisson counts, spend, service attach, refund shares, payment timing). The world draws
    from it (:func:`finish_outcomes`); the oracle takes its expectation
    (:func:`expected_outcomes`)."""

    net: np.ndarray
    value: np.ndarray
    returned: np.ndarray
    exchanged: np.ndarray
    damaged: np.ndarray
    score_mean: np.ndarray
    lam_repeat: np.ndarray
    p_cross: np.ndarray
    spend_before: np.ndarray
    spend_mean: np.ndarray
    tag_rate: np.ndarray
    referral_mean: np.ndarray
    p_attach: np.ndarray
    fee: np.ndarray
    commission: np.ndarray
    packing: np.ndarray
    expedite: np.ndarray
    compensation: np.ndarray
    reverse: np.ndarray
    carbon: np.ndarray
    delivered: np.ndarray
    created: np.ndarray
    attempts: np.ndarray
    notified: np.ndarray
    payment: np.ndarray


def outcome_means(
    orders: OrderDraw,
    customers: Customers,
    plan: Plan,
    timeline: Timeline,
    returns: Returns,
    n_intents: np.ndarray,
) -> OutcomeMeans:
    """What every outcome follows from: latent customer traits and the delivery experience
    (late lowers the review and the repeat purchase; a timely warning wins part back)."""
    f = orders.frame
    cats, channels = geo.CATEGORIES, geo.CHANNELS
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

    # Lateness hurts in proportion to how late, and a warning takes the edge off it.
    late_pain = late * np.minimum(0.4 + late_h / 48, 1.4) * np.where(notified, 0.5, 1.0)
    score_mean = (
        4.45 + 0.3 * loyalty - 1.1 * late_pain - 1.6 * damaged - 0.35 * failed - 0.3 * returned
        + 0.1 * customers.is_b2b[cust]
    )  # fmt: skip
    experience = (
        np.where(late, 0.55 + 0.25 * notified, 1.0) * np.where(damaged, 0.6, 1.0)
        * np.where(failed, 0.9, 1.0)
    )  # fmt: skip
    rate = cats["purchase_rate"].to_numpy()[cat]
    lam_repeat = (
        0.55 * rate * np.exp(0.5 * loyalty) * experience * (1 + 0.3 * customers.is_b2b[cust])
    )
    spend_before = orders.spend_180d_before
    # Spend carries on from the customer's recent spend (more so when loyal); new spend follows
    # the spend level; a bad experience shrinks both.
    recent = spend_before * (0.8 + 0.2 * experience) * np.exp(0.1 * loyalty)
    fresh = (0.4 * net + 250 * np.exp(0.5 * customers.spend_level[cust])) * np.exp(0.3 * loyalty)
    fee = cats["service_fee"].to_numpy()[cat]
    p_attach = (
        cats["install_rate"].to_numpy()[cat] * 0.7 + cats["consult_rate"].to_numpy()[cat] * 0.4
    ) * np.where(late, 0.85, 1.0) + 0.04 * (fee > 0)

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
    return OutcomeMeans(
        net=net,
        value=value,
        returned=returned,
        exchanged=exchanged,
        damaged=damaged,
        score_mean=score_mean,
        lam_repeat=lam_repeat,
        p_cross=np.clip(0.4 + 0.1 * np.tanh(loyalty), 0, 1),
        spend_before=spend_before,
        spend_mean=recent + fresh * experience,
        tag_rate=channels["tag_rate"].to_numpy()[orders.channel] * 0.8 + 0.3 * (n_intents > 0),
        referral_mean=0.05
        * np.exp(0.7 * customers.social_reach[cust])
        * np.maximum(score_mean - 2.5, 0.1),
        p_attach=p_attach,
        fee=fee,
        commission=channels["partner_commission"].to_numpy()[orders.channel],
        packing=packing,
        expedite=expedite,
        compensation=np.round(compensation, 2),
        reverse=reverse,
        carbon=carbon,
        delivered=timeline.delivered,
        created=plan.created,
        attempts=timeline.attempts,
        notified=notified,
        payment=f["payment_method"].to_numpy(),
    )


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
        review_all: score every order — whether a customer reviews depends only on a latent
            habit, so this does not change the expected score.
    """
    m = outcome_means(orders, customers, plan, timeline, returns, n_intents)
    n = len(m.net)
    refund_share = np.where(
        m.returned,
        rng.uniform(*RETURN_REFUND, n),
        np.where(
            m.damaged & (rng.random(n) < DAMAGE_REFUND[0]), rng.uniform(*DAMAGE_REFUND[1:], n), 0.0
        ),
    )
    refunded = np.round(np.minimum(m.net * refund_share, m.value), 2)
    score = np.clip(np.round(m.score_mean + rng.normal(0, REVIEW_NOISE, n)), 1, 5)
    propensity = customers.review_propensity[orders.customer]
    reviewed = review_all | (rng.random(n) < 0.8 * propensity)
    review = np.where(reviewed, score, np.nan)
    repeat = rng.poisson(m.lam_repeat)
    cross = rng.binomial(repeat, m.p_cross)
    spend_after = np.round(m.spend_mean * rng.gamma(4.0, 0.25, n), 2)
    tags = rng.poisson(m.tag_rate)
    referrals = rng.poisson(m.referral_mean)
    attach = np.round(
        np.where(rng.random(n) < m.p_attach, m.fee * rng.uniform(*ATTACH_PRICE, n), 0.0), 2
    )
    partner = np.round(0.7 * attach + m.commission * np.maximum(m.net - refunded, 0), 2)
    delivered = m.delivered
    confirm = delivered + HOURS_PER_DAY * AUTO_CONFIRM_DAYS * rng.uniform(0.1, 1.0, n)
    cash = np.select(
        _payment_kinds(m.payment),
        [
            delivered + HOURS_PER_DAY * rng.uniform(1, 3, n),
            m.created + HOURS_PER_DAY * rng.uniform(1, 4, n),
            delivered + HOURS_PER_DAY * (30 + rng.exponential(8, n)),
        ],
        default=confirm,
    )
    settled = confirm + HOURS_PER_DAY * RETURN_WINDOW_DAYS * (m.returned | m.exchanged)
    return _columns(m, minutes, refunded, review, repeat, spend_after, tags, referrals, attach,
                    partner, cross, cash, settled)  # fmt: skip


def expected_outcomes(
    orders: OrderDraw,
    customers: Customers,
    plan: Plan,
    timeline: Timeline,
    returns: Returns,
    minutes: np.ndarray,
    n_intents: np.ndarray,
) -> dict[str, np.ndarray]:
    """:func:`finish_outcomes` with its last independent draws replaced by their expectations
    (given everything drawn before them): the oracle's replicas average these, so the only Monte
    Carlo noise left is that of the delivery, the returns and the tickets.

    Every column is the conditional expectation of its realised counterpart (review scores
    include the rounding and the 1-5 clip; rounding to cents is ignored). One column more,
    ``p_repeat``: the chance of at least one repeat order (the repeat dimension is that
    chance, not a function of the expected count).
    """
    m = outcome_means(orders, customers, plan, timeline, returns, n_intents)
    lo, hi = RETURN_REFUND
    p_damage, d_lo, d_hi = DAMAGE_REFUND
    refund_share = np.where(m.returned, (lo + hi) / 2, m.damaged * p_damage * (d_lo + d_hi) / 2)
    refunded = m.net * refund_share  # net * share never exceeds the order value
    # E[clip(round(mean + noise), 1, 5)]: one star plus the chance of clearing each half-star.
    review = 1.0 + sum(
        ndtr((m.score_mean - threshold) / REVIEW_NOISE) for threshold in (1.5, 2.5, 3.5, 4.5)
    )
    attach = np.minimum(m.p_attach, 1.0) * m.fee * sum(ATTACH_PRICE) / 2
    partner = 0.7 * attach + m.commission * np.maximum(m.net - refunded, 0)
    days = HOURS_PER_DAY
    confirm = m.delivered + days * AUTO_CONFIRM_DAYS * 0.55
    cash = np.select(
        _payment_kinds(m.payment),
        [m.delivered + days * 2.0, m.created + days * 2.5, m.delivered + days * 38.0],
        default=confirm,
    )
    settled = confirm + days * RETURN_WINDOW_DAYS * (m.returned | m.exchanged)
    columns = _columns(m, minutes, refunded, review, m.lam_repeat, m.spend_mean, m.tag_rate,
                       m.referral_mean, attach, partner, m.lam_repeat * m.p_cross, cash,
                       settled)  # fmt: skip
    columns["p_repeat"] = -np.expm1(-m.lam_repeat)
    return columns


def _payment_kinds(payment: np.ndarray) -> list[np.ndarray]:
    """Masks of the payment methods whose cash arrives other than at confirmation."""
    return [payment == "cash_on_delivery", payment == "bank_transfer", payment == "credit_terms"]


def _columns(m: OutcomeMeans, minutes, refunded, review, repeat, spend_after, tags, referrals,
             attach, partner, cross, cash, settled) -> dict[str, np.ndarray]:  # fmt: skip
    """The outcome columns of the contract, realised or expected alike."""
    return {
        "delivered_at": m.delivered,
        "settled_at": settled,
        "delivery_attempts": m.attempts.astype("int64"),
        "returned": m.returned,
        "exchanged": m.exchanged,
        "refunded_amount": refunded,
        "review_score": review,
        "repeat_orders_90d": _counts(repeat),
        "spend_180d_before": m.spend_before,
        "spend_180d_after": spend_after,
        "profile_tags_gained": _counts(tags),
        "referrals": _counts(referrals),
        "service_attach_revenue": attach,
        "partner_revenue_share": partner,
        "cross_category_orders_90d": _counts(cross),
        "packing_cost": m.packing,
        "expedite_cost": m.expedite,
        "compensation_cost": m.compensation,
        "reverse_logistics_cost": m.reverse,
        "service_minutes": np.round(minutes, 1),
        "cash_collected_at": cash,
        "carbon_kg": np.round(m.carbon, 3),
        "notified_before_delay": m.notified,
    }


def _counts(values: np.ndarray) -> np.ndarray:
    """Counts as int64; expected counts stay float."""
    return values.astype("int64") if values.dtype.kind in "iu" else values


TIME_COLUMNS = ("delivered_at", "settled_at", "cash_collected_at")


def outcomes_frame(order_id: np.ndarray, columns: dict[str, np.ndarray], start_us: int, to_ts):
    """The ``outcomes`` source table from :func:`finish_outcomes` arrays."""
    data = {"order_id": order_id}
    for name, values in columns.items():
        data[name] = to_ts(values, start_us) if name in TIME_COLUMNS else values
        if name == "delivered_at":  # every simulated order arrives (the contract allows others)
            data["status"] = np.full(len(order_id), "delivered", dtype=object)
    return pd.DataFrame(data)
