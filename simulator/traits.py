"""What a shop can know about a customer's latent traits when an order is placed: their posterior
given the customer's observable history, for the value oracle.

The traits (loyalty, spend level, social reach, price sensitivity, review propensity, the
customer's home channel and contact channel) are never written to a source table, yet they drive
the value outcomes. The best any model can do is to average over what the observable history
says about them. Per order, that history is the customer's order stream up to and including the
order: how many orders they placed among all orders so far, in which channels, at what prices
and discounts, and the contact channel of any ticket they wrote before. Each trait's likelihood
under the simulator's own generative model (:mod:`simulator.orders`) gives an exact posterior
(up to grids of 41-48 points and rounding to cents):

- **spend level**: log unit prices are normal around ``0.25 * spend`` (conjugate normal);
- **loyalty**: a customer's share of orders is ``min(m, 400) * exp(0.4 * loyalty) / A`` with
  ``log m ~ Exp(1.15)``; the count among the first ``j + 1`` orders integrates ``m`` out in
  closed form (incomplete gamma functions of the count and the exposure ``(j + 1) / A``);
- **home channel**: 85 % of a customer's orders come through it, the rest stray by market share;
- **price sensitivity**: each discounted order's rate is ``base + 0.08 * sigmoid(p) * U``: the
  count of discounted orders and the largest excess over the base bound ``p`` from below;
- **social reach** and **review propensity**: nothing in the order stream speaks to them (their
  prior given the home channel);
- **contact channel**: known once the customer has written a ticket, else its prior.

Outcomes of earlier orders (reviews, returns, referrals) are not conditioned on: no feature of
the models reads them, and their publication dates are not part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gamma, gammainc, gammaincc, gammaln, ndtri

from orderlens import vocab
from simulator import geography as geo
from simulator.orders import (
    ACTIVITY_CAP,
    ACTIVITY_LOYALTY,
    ACTIVITY_TAIL,
    DISCOUNT_SENSITIVITY,
    SPEND_PRICE_EFFECT,
    Customers,
    OrderDraw,
)

LOYALTY_GRID = np.linspace(-4.5, 4.5, 41)
PRICE_SENSITIVITY_GRID = np.linspace(-5.2, 5.4, 48)
EXPOSURE_BIN = 0.02
"""Orders share a loyalty posterior when their counts agree and their log exposures round to
the same multiple of this (the posterior moves by far less within a bin)."""
FLOOR_BIN = 0.005
"""Sensitivity floors (a share, 0-1) are rounded to this for the discount likelihood's table."""
STRAY_SHARE = 0.15
"""Share of a (non-B2B) customer's orders that stray from their home channel, by market share."""
B2B = vocab.CHANNELS.index("b2b_portal")
CONTACT_PRIOR = np.array([0.45, 0.2, 0.1, 0.25])
CONTACT_PRIOR_B2B = np.array([0.2, 0.25, 0.5, 0.05])
"""Contact channel priors (as :func:`simulator.orders.simulate_customers` draws them)."""


@dataclass(frozen=True)
class Evidence:
    """Per order (time order), what the customer's observable history up to it amounts to."""

    is_b2b: np.ndarray
    orders_so_far: np.ndarray  # the customer's orders among the first j + 1, this one included
    log_exposure: np.ndarray  # log((j + 1) / A)
    spend_mean: np.ndarray
    spend_sd: np.ndarray
    channel_log_weight: np.ndarray  # (n, channels): home-channel log posterior (unnormalised)
    discounted: np.ndarray  # discounted orders so far
    sensitivity_floor: np.ndarray  # sigmoid(price sensitivity) is at least this
    contact: np.ndarray  # contact channel if a ticket revealed it, else -1
    loyalty_row: np.ndarray  # the order's row of ``loyalty_cdf``
    loyalty_cdf: np.ndarray  # (distinct count/exposure pairs, LOYALTY_GRID): cells' CDF
    loyalty_slope: np.ndarray  # same shape: the log posterior's slope in each cell
    sensitivity_row: np.ndarray  # the order's pair in ``sensitivity``
    sensitivity: SensitivityTable

    def __len__(self) -> int:
        return len(self.is_b2b)

    def take(self, rows: slice | np.ndarray) -> Evidence:
        """The evidence of some orders (the loyalty table is shared)."""
        shared = ("loyalty_cdf", "loyalty_slope", "sensitivity")
        return Evidence(**{k: v if k in shared else v[rows] for k, v in vars(self).items()})


@dataclass(frozen=True)
class TraitDraws:
    """Draws of each order's customer traits from their posterior, arrays ``(draws, orders)``."""

    loyalty: np.ndarray
    spend_level: np.ndarray
    social_reach: np.ndarray
    price_sensitivity: np.ndarray
    review_propensity: np.ndarray
    channel: np.ndarray
    ticket_channel: np.ndarray

    def customers(self, draw: int, observed: Customers, customer: np.ndarray) -> Customers:
        """One draw as a :class:`Customers` with one "customer" per order (index = order), the
        observable attributes taken from the real customer ``customer[i]``."""
        return Customers(
            channel=self.channel[draw],
            home_city=observed.home_city[customer],
            language=observed.language[customer],
            is_b2b=observed.is_b2b[customer],
            ticket_channel=self.ticket_channel[draw],
            loyalty=self.loyalty[draw],
            spend_level=self.spend_level[draw],
            social_reach=self.social_reach[draw],
            price_sensitivity=self.price_sensitivity[draw],
            review_propensity=self.review_propensity[draw],
        )


def gather_evidence(
    orders: OrderDraw, customers: Customers, first_ticket_h: np.ndarray | None = None
) -> Evidence:
    """Each order's evidence about its customer (orders in time order, as simulated).

    Args:
        first_ticket_h: per customer, the hour of their first ticket (inf: none).
    """
    n = len(orders.customer)
    customer = orders.customer
    frame = orders.frame
    b2b = customers.is_b2b[customer]
    value = frame["order_value"].to_numpy()
    discount = frame["discount"].to_numpy()
    has_discount = discount > 0

    # Spend level: log unit price = log median + 0.25 * spend + sigma * z (conjugate normal).
    cats = geo.CATEGORIES
    sigma = cats["price_sigma"].to_numpy()[orders.category]
    log_unit = (
        np.log(value)
        - 0.85 * np.log(frame["n_items"].to_numpy())
        - np.log(cats["price_median"].to_numpy()[orders.category])
    )
    channels = np.arange(len(geo.CHANNELS))
    # Every running total in one pass: spend precision and information, orders, discounted
    # orders, orders per channel.
    totals = running_sum(
        customer,
        np.column_stack(
            [
                (SPEND_PRICE_EFFECT / sigma) ** 2,
                SPEND_PRICE_EFFECT * log_unit / sigma**2,
                np.ones(n),
                has_discount,
                orders.channel[:, None] == channels[None, :],
            ]
        ).astype(float),
    )
    precision = 1.0 + totals[:, 0]
    information = 0.8 * b2b + totals[:, 1]
    orders_so_far = np.rint(totals[:, 2]).astype(np.int64)
    discounted = totals[:, 3]
    counts = totals[:, 4:]

    # Home channel: 85 % of a customer's orders come through it.
    market = geo.CHANNELS["customer_share"].to_numpy()
    market = market / market.sum()
    home_gain = np.log(1 - STRAY_SHARE + STRAY_SHARE * market) - np.log(STRAY_SHARE * market)
    log_weight = np.log(market)[None, :] + counts * home_gain[None, :]
    log_weight[:, B2B] = -np.inf  # a B2B customer's home is the B2B portal, nobody else's is
    log_weight[b2b] = -np.inf
    log_weight[b2b, B2B] = 0.0

    # Price sensitivity: the largest excess of a discount over its base rate (the discount is
    # rounded to cents: the excess's lower bound is what the data guarantee).
    excess = np.where(has_discount, (discount - 0.005) / value - orders.discount_base, -1.0)
    floor = np.clip(running_max(customer, excess) / DISCOUNT_SENSITIVITY, 0.0, 0.999)

    contact = np.full(n, -1)
    if first_ticket_h is not None:
        told = first_ticket_h[customer] < orders.created_h
        contact = np.where(told, customers.ticket_channel[customer], -1)
    log_exposure = np.log((np.arange(n) + 1.0) / orders.activity_total)
    # One loyalty posterior per distinct (count, exposure bin): far fewer than orders.
    exposure_bin = np.round(log_exposure / EXPOSURE_BIN).astype(np.int64)
    pair_keys, row = np.unique(_pair_key(orders_so_far, exposure_bin), return_inverse=True)
    counts_of_pairs, bins_of_pairs = _pair_parts(pair_keys)
    log_post = loyalty_log_posterior(counts_of_pairs, bins_of_pairs * EXPOSURE_BIN)
    sensitivity_row, sensitivity = _sensitivity_table(discounted, floor)
    step = LOYALTY_GRID[1] - LOYALTY_GRID[0]
    slope = np.gradient(log_post, step, axis=1)
    slope[~np.isfinite(slope)] = 0.0
    log_mass = log_post + _log_cell_integral(slope, -step / 2, step / 2)
    return Evidence(
        is_b2b=b2b,
        orders_so_far=orders_so_far,
        log_exposure=log_exposure,
        spend_mean=information / precision,
        spend_sd=1.0 / np.sqrt(precision),
        channel_log_weight=log_weight,
        discounted=discounted,
        sensitivity_floor=floor,
        contact=contact,
        loyalty_row=row.ravel(),
        loyalty_cdf=_cdf_rows(log_mass),
        loyalty_slope=slope,
        sensitivity_row=sensitivity_row,
        sensitivity=sensitivity,
    )


_PAIR_OFFSET = 1 << 20
"""Distinct (count, bin) pairs as one int64 key: ``count * 2^40 + (bin + 2^20)``."""


def _pair_key(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return (first.astype(np.int64) << 40) + (second.astype(np.int64) + _PAIR_OFFSET)


def _pair_parts(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return key >> 40, (key & ((1 << 40) - 1)) - _PAIR_OFFSET


def draw_traits(evidence: Evidence, n_draws: int, rng: np.random.Generator) -> TraitDraws:
    """``n_draws`` draws of every order's customer traits from their posterior."""
    n = len(evidence)
    # Stratified uniforms: each order's draws cover its posterior evenly (less Monte Carlo noise
    # in the oracle's average than independent draws give).
    spend = evidence.spend_mean + evidence.spend_sd * ndtri(stratified(n_draws, n, rng))
    cell = _draw_cells(
        evidence.loyalty_cdf, evidence.loyalty_row, n_draws, rng, stratified(n_draws, n, rng)
    )
    step = LOYALTY_GRID[1] - LOYALTY_GRID[0]
    loyalty = LOYALTY_GRID[cell] + _within_cell(
        evidence.loyalty_slope[evidence.loyalty_row[None, :], cell], -step / 2, step / 2, rng
    )
    channel, sensitivity = _draw_channel_and_sensitivity(evidence, n_draws, rng)
    reach = geo.CHANNELS["social_reach"].to_numpy()[channel] + ndtri(stratified(n_draws, n, rng))
    prior = np.where(evidence.is_b2b[:, None], CONTACT_PRIOR_B2B, CONTACT_PRIOR).cumsum(axis=1)
    guessed = (rng.random((n_draws, n, 1)) > prior[None]).sum(axis=2).clip(0, 3)
    contact = np.where(evidence.contact >= 0, evidence.contact, guessed)
    return TraitDraws(
        loyalty=loyalty,
        spend_level=spend,
        social_reach=reach,
        price_sensitivity=sensitivity,
        review_propensity=rng.beta(2, 3, (n_draws, n)),
        channel=channel,
        ticket_channel=contact,
    )


def loyalty_log_posterior(orders_so_far: np.ndarray, log_exposure: np.ndarray) -> np.ndarray:
    """Log posterior of loyalty on :data:`LOYALTY_GRID` (unnormalised), one row per (count,
    exposure) pair.

    A customer with activity ``a`` sends each order with chance ``a / A``; ``k`` of the first
    ``j + 1`` orders have likelihood ``a^k exp(-tau a)``, ``tau = (j + 1) / A``. With ``a = m
    exp(0.4 L)``, ``log m ~ Exp(1.15)`` capped at ``log 400``, integrating ``m`` out gives
    ``lo^1.15 Gamma(k - 1.15) [P(k - 1.15, hi) - P(k - 1.15, lo)]`` with ``lo = tau exp(0.4 L)``,
    ``hi = 400 lo`` (up to factors free of ``L``), plus the cap's atom ``q hi^k e^-hi``.
    """
    k = orders_so_far.astype(float)[:, None]
    lo = np.exp(log_exposure[:, None] + ACTIVITY_LOYALTY * LOYALTY_GRID[None, :])
    hi = ACTIVITY_CAP * lo
    alpha = ACTIVITY_TAIL
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.maximum(k - alpha, 1e-9)
        lower_tail = lo < s  # where P(s, lo) is small the difference of P is accurate
        mass = np.where(
            lower_tail, gammainc(s, hi) - gammainc(s, lo), gammaincc(s, lo) - gammaincc(s, hi)
        )
        body = np.log(np.maximum(mass, 0.0)) + gammaln(s)
        # One order (k = 1 < alpha): the integral of x^-1.15 e^-x from lo to hi, through the
        # upper incomplete gamma of -0.15 (recurrence from Gamma(0.85, x)).
        single = k[:, 0] < alpha
        first = _upper_gamma_negative(lo[single]) - _upper_gamma_negative(hi[single])
        body[single] = np.log(np.maximum(first, 0.0))
        spread = np.log(alpha) + alpha * np.log(lo) + body
        atom = -alpha * np.log(ACTIVITY_CAP) + k * np.log(hi) - hi
        likelihood = np.logaddexp(spread, atom)
    prior = -0.5 * LOYALTY_GRID**2
    out = likelihood + prior[None, :]
    flat = ~np.isfinite(out).any(axis=1)
    out[flat] = prior  # numerically silent (never seen): keep the prior
    return out


def _upper_gamma_negative(x: np.ndarray) -> np.ndarray:
    """Upper incomplete gamma of ``s = 1 - ACTIVITY_TAIL`` (negative) at ``x``."""
    s = 1.0 - ACTIVITY_TAIL
    upper_next = gammaincc(s + 1, x) * gamma(s + 1)
    return (upper_next - x**s * np.exp(-x)) / s


@dataclass(frozen=True)
class SensitivityTable:
    """The price sensitivity's posterior given (home channel, discounted orders so far, floor),
    on :data:`PRICE_SENSITIVITY_GRID`, for every distinct (discounted orders, floor) pair.

    Given the channel ``c``, ``m`` discounted orders and the floor ``f``, the log posterior is
    ``-(p - mu_c)^2 / 2 - m log sigmoid(p)`` for ``sigmoid(p) >= f``: steep for frequent
    discounters, so each grid cell is integrated (and drawn from) as log-linear with the exact
    slope, cut at the floor.
    """

    channel_evidence: np.ndarray  # (pairs, channels): the discounts' likelihood of each channel
    cdf: np.ndarray  # (pairs * channels, grid): cells' CDF given the pair and the channel
    slope: np.ndarray  # (pairs * channels, grid): log density's slope in each cell
    start: np.ndarray  # (pairs, grid): where each cell starts (cut at the floor), from centre

    @classmethod
    def build(cls, discounted: np.ndarray, floor: np.ndarray) -> SensitivityTable:
        """The table of the pairs (``discounted[i]``, ``floor[i]``)."""
        grid = PRICE_SENSITIVITY_GRID
        step = grid[1] - grid[0]
        width = len(grid)
        with np.errstate(divide="ignore"):
            edge = np.log(floor / (1 - floor))  # -inf without discounts
        means = geo.CHANNELS["price_sensitivity"].to_numpy()
        m = discounted.astype(float)[:, None, None]
        g = grid[None, None, :]
        centred = g - means[None, :, None]
        log_density = -0.5 * centred**2 - m * np.log(expit(g))
        slope = -centred - m * expit(-g)
        start = np.maximum(-step / 2, edge[:, None] - grid[None, :])  # (pairs, grid)
        alive = (start < step / 2)[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_mass = np.where(
                alive,
                log_density + _log_cell_integral(slope, start[:, None, :], step / 2),
                -np.inf,
            )  # (pairs, channels, grid)
        mass = np.exp(log_mass - log_mass.max(axis=(1, 2), keepdims=True))
        channel_evidence = mass.sum(axis=2)  # common scale within a pair
        cdf = np.cumsum(mass / np.maximum(channel_evidence[:, :, None], 1e-300), axis=2)
        cdf = cdf.reshape(-1, width)
        cdf[:, -1] = 1.0
        return cls(channel_evidence, cdf, slope.reshape(-1, width), start)


def _sensitivity_table(
    discounted: np.ndarray, floor: np.ndarray
) -> tuple[np.ndarray, SensitivityTable]:
    """Each order's row of the price-sensitivity table, and the table (one row per distinct
    pair of discounted orders and floor, rounded to :data:`FLOOR_BIN`)."""
    floor_bin = np.round(floor / FLOOR_BIN).astype(np.int64)
    keys, row = np.unique(_pair_key(np.rint(discounted), floor_bin), return_inverse=True)
    counts, bins = _pair_parts(keys)
    return row.ravel(), SensitivityTable.build(counts, np.clip(bins * FLOOR_BIN, 0.0, 0.999))


def _draw_channel_and_sensitivity(
    evidence: Evidence, n_draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Home channel and price sensitivity, jointly: the channel sets the sensitivity's prior
    mean, and the discounts speak to the sensitivity. The channel is drawn from its marginal
    posterior (the sensitivity integrated out), then the sensitivity given it
    (:class:`SensitivityTable`)."""
    n = len(evidence)
    grid = PRICE_SENSITIVITY_GRID
    step = grid[1] - grid[0]
    table, which = evidence.sensitivity, evidence.sensitivity_row
    n_channels = table.channel_evidence.shape[1]
    log_weight = evidence.channel_log_weight
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    weight = weight * table.channel_evidence[which]
    channel_cdf = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    channel_cdf[:, -1] = 1.0
    channel = _draw_cells(channel_cdf, np.arange(n), n_draws, rng, stratified(n_draws, n, rng))
    spread = stratified(n_draws, n, rng)
    sensitivity = np.empty((n_draws, n))
    for draw in range(n_draws):
        rows = which * n_channels + channel[draw]
        cell = _draw_cells(table.cdf, rows, 1, rng, spread[draw : draw + 1])[0]
        sensitivity[draw] = grid[cell] + _within_cell(
            table.slope[rows, cell], table.start[which, cell], step / 2, rng
        )
    return channel, sensitivity


def _log_cell_integral(slope: np.ndarray, start, end) -> np.ndarray:
    """``log`` of the integral of ``exp(slope * t)`` for ``t`` from ``start`` to ``end``."""
    width = end - start
    r = slope * width
    safe = np.where(np.abs(r) < 1e-8, 1.0, slope)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        body = np.where(r > 30, r - np.log(np.abs(safe)), np.log(np.expm1(r) / safe))
        return slope * start + np.where(np.abs(r) < 1e-8, np.log(width), body)


def _within_cell(slope: np.ndarray, start, end, rng: np.random.Generator) -> np.ndarray:
    """A draw from the density proportional to ``exp(slope * t)`` on ``[start, end]``."""
    u = rng.random(np.shape(slope))
    start = np.broadcast_to(start, np.shape(slope))
    width = end - start
    r = slope * width
    safe = np.where(np.abs(r) < 1e-8, 1.0, slope)
    with np.errstate(over="ignore", invalid="ignore"):
        rising = end + np.log1p(u * np.expm1(-r)) / safe  # slope > 0: mass near the end
        falling = start + np.log1p(u * np.expm1(r)) / safe  # slope < 0: near the start
    return np.where(np.abs(r) < 1e-8, start + u * width, np.where(r > 0, rising, falling))


def _cdf_rows(log_weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of unnormalised log weights."""
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def stratified(n_draws: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniforms ``(n_draws, n)`` stratified per column: each order's draws fall one in each of
    ``n_draws`` equal slices of (0, 1), in random order (a Latin hypercube per order)."""
    slices = np.argsort(rng.random((n_draws, n)), axis=0)
    return (slices + rng.random((n_draws, n))) / n_draws


def _draw_cells(
    cdf: np.ndarray,
    which: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    u: np.ndarray | None = None,
) -> np.ndarray:
    """Cell indices drawn from row ``which[i]`` of ``cdf`` for each order ``i``, ``n_draws``
    times (with the uniforms ``u`` when given). Rows are gathered in blocks and compared with
    the uniforms (rows are short; a search into the whole table was slower, all cache
    misses)."""
    if u is None:
        u = rng.random((n_draws, len(which)))
    cell = np.empty(u.shape, dtype=np.int64)
    width = cdf.shape[1]
    block = max(1, 4_000_000 // width)
    for lo in range(0, len(which), block):
        rows = cdf[which[lo : lo + block]]
        for draw in range(n_draws):
            cell[draw, lo : lo + block] = (rows < u[draw, lo : lo + block, None]).sum(axis=1)
    return np.minimum(cell, width - 1)


def running_sum(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` (1-D, or 2-D with one column per quantity) over the rows
    of its group up to and including it (rows in time order)."""
    order = np.argsort(group, kind="stable")
    total = np.cumsum(values[order], axis=0)
    starts = _group_starts(group[order])
    before = total[np.maximum(starts - 1, 0)]
    before[starts == 0] = 0.0
    out = np.empty_like(total)
    out[order] = total - before
    return out


def running_max(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, the max of ``values`` (each within -2 … 2) over its group up to it."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    rank = np.cumsum(np.r_[0, sorted_group[1:] != sorted_group[:-1]])
    lifted = np.maximum.accumulate(values[order] + 8.0 * rank) - 8.0 * rank
    out = np.empty_like(lifted)
    out[order] = lifted
    return out


def _group_starts(sorted_group: np.ndarray) -> np.ndarray:
    """For each row of a sorted group array, the index of its group's first row."""
    new = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    return np.maximum.accumulate(np.where(new, np.arange(len(sorted_group)), 0))
