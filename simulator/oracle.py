"""The oracle: the best possible prediction for each order, given the world's state when the order
was created — the Bayes limit models are graded against. Never a feature.

*Delay* (``p_late``, ``expected_delay_hours``) conditions only on what was observable at
creation: the plan (order attributes, warehouse and carrier backlogs from earlier orders, the
promise), and the forecasts/observations published by then. It integrates over the rest:

- weather at the three places the parcel is planned to be, by Monte Carlo from the exact
  posterior (climate prior × likelihood of the forecasts issued so far), ``weather_samples``
  draws per order;
- incident size, a failed first attempt, and the journey's log-normal noise, exactly: the journey
  is late when ``m * B > window`` with ``log m ~ N(0, sigma²)``, so each mixture component
  contributes a normal tail, and the expected excess is the Black–Scholes call formula.

*Value dimensions* (:func:`value_oracle`) are the expectation of
:func:`features.labels.value_targets` given what was observable at creation: it integrates over
the latent customer traits' posterior given the customer's order stream
(:mod:`simulator.traits`) and over all post-creation randomness, by replicas that re-run the
world's own delivery, returns and ticket code and take the outcomes' exact expectation given
those. Every order gets a few replicas, the newest (the test window) many; each order's Monte
Carlo variance is written beside its expectation, so evaluation can take the remaining noise off
the oracle's R² (an unbiased estimate of the exact expectation's). ``on_time_delivery`` and
``first_attempt_success`` are exact (``1 - p_late`` and ``1 - p_fail``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr

from features.labels import value_targets
from orderlens.dimensions import DIMENSION_NAMES
from simulator import delivery as dl
from simulator import weather as wx
from simulator.orders import Customers, OrderDraw
from simulator.outcomes import draw_returns, expected_outcomes
from simulator.tickets import intent_events, service_minutes
from simulator.traits import draw_traits, gather_evidence

CHUNK = 200_000


def slot_posteriors(weather: wx.WeatherWorld, plan: dl.Plan) -> np.ndarray:
    """Cumulative posterior over weather states at the plan's three slots, as of creation.

    The posterior of a (city, day) depends on the order only through how much had been published
    by its creation, so it is looked up in :meth:`WeatherWorld.posterior_table`.

    Returns:
        float32 array (3, n_orders, N_STATES), cumulative along the last axis.
    """
    table = weather.posterior_table()
    out = np.empty((3, len(plan.created), wx.N_STATES), dtype=np.float32)
    for slot in range(3):
        day = plan.slot_day[slot]
        info = weather.information_level(day, plan.created)
        out[slot] = table[plan.slot_city[slot], weather.index(day), info]
    return out


def sample_states(cum: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw weather states from cumulative posteriors (inverse CDF).

    Args:
        cum: (3, n, N_STATES) from :func:`slot_posteriors`.

    Returns:
        int8 array (n_samples, 3, n).
    """
    _, n, _ = cum.shape
    out = np.zeros((n_samples, 3, n), dtype=np.int8)
    for slot in range(3):
        u = rng.random((n_samples, n), dtype=np.float32)
        # Most draws land on "no alert": only the rest need the full comparison.
        k, i = np.nonzero(u > cum[slot, :, 0][None, :])
        chosen = (u[k, i][:, None] > cum[slot, i]).sum(axis=1)
        out[k, slot, i] = np.minimum(chosen, wx.N_STATES - 1)
    return out


def delay_oracle(plan: dl.Plan, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(late) and E[hours late, 0 when on time] per order, given sampled slot states.

    Args:
        states: (n_samples, 3, n) weather states from :func:`sample_states`.
    """
    n_samples = states.shape[0]
    holds = (wx.STATE_HOURS[states] * dl.SLOT_WEIGHT[None, :, None]).sum(axis=1)  # (S, n)
    calm_p, calm_h = _lognormal_mixture(plan, np.arange(len(plan.created)), 0.0)
    # A draw without weather holds is the same for every sample: weigh it by how often it came
    # up, and evaluate the mixture only for the draws that met some weather.
    n_calm = (holds == 0).sum(axis=0)
    p_late = calm_p * n_calm
    hours = calm_h * n_calm
    k, i = np.nonzero(holds > 0)
    if len(i):
        stormy_p, stormy_h = _lognormal_mixture(plan, i, holds[k, i])
        p_late += np.bincount(i, weights=stormy_p, minlength=len(p_late))
        hours += np.bincount(i, weights=stormy_h, minlength=len(hours))
    return p_late / n_samples, np.maximum(hours / n_samples, 0.0)


def _lognormal_mixture(plan: dl.Plan, i: np.ndarray, holds) -> tuple[np.ndarray, np.ndarray]:
    """P(m * B > window) and E[(m * B - window)+] for orders ``i`` with extra hold hours, exact
    over the incident size and a failed first attempt."""
    base = plan.base[i] + holds
    window = plan.window[i]
    sigma = plan.sigma[i]
    log_window = np.log(window)
    growth = np.exp(sigma**2 / 2)
    p_inc, p_fail = plan.p_incident[i], plan.p_fail[i]
    redelivery = dl.REDELIVERY_GAP_H + plan.last_mile[i]
    p_late = np.zeros(len(i))
    hours = np.zeros(len(i))
    incident_weights = [1 - p_inc] + [p_inc * share for share in dl.INCIDENT_SHARES]
    for inc_hours, w_inc in zip(dl.INCIDENT_HOURS, incident_weights, strict=True):
        for failed, w_fail in ((0.0, 1 - p_fail), (1.0, p_fail)):
            b = base + inc_hours + failed * redelivery
            z = (np.log(b) - log_window) / sigma
            w = w_inc * w_fail
            p_late += w * ndtr(z)
            hours += w * (b * growth * ndtr(z + sigma) - window * ndtr(z))
    return p_late, hours


EXACT_DIMENSIONS = ("on_time_delivery", "first_attempt_success")
"""Dimensions the world sets from exact probabilities (``1 - p_late``, ``1 - p_fail``)."""
MC_VAR_SUFFIX = "__mc_var"
"""``<dimension>__mc_var``: the variance of the oracle's Monte Carlo error for the order (its
replicas' variance over their number), which evaluation takes off the oracle's squared error."""
_TIMES = ("delivered_at", "cash_collected_at", "settled_at")


@dataclass(frozen=True)
class Replicas:
    """How many replicas of the post-creation world each order's value oracle averages: the
    newest ``focus_share`` of orders (where models are tested) get ``focus``, in batches of
    ``batch``; the others ``all_orders``, in one batch. A batch's trait draws are stratified
    (they cover each order's posterior evenly); batches are independent, so the spread of their
    means estimates the oracle's Monte Carlo variance without bias."""

    all_orders: int = 2
    focus: int = 16
    focus_share: float = 0.25
    batch: int = 4

    def __post_init__(self) -> None:
        if self.focus % self.batch or self.all_orders < 1:
            raise ValueError(
                f"replicas: focus ({self.focus}) must be a multiple of the batch ({self.batch})"
                f" and every order needs one replica at least ({self.all_orders})"
            )


def value_oracle(
    orders: OrderDraw,
    customers: Customers,
    plan: dl.Plan,
    posteriors: np.ndarray,
    replicas: Replicas,
    to_ts,
    start_us: int,
    rng: np.random.Generator,
    first_ticket_h: np.ndarray | None = None,
) -> pd.DataFrame:
    """The expected realised value of each dimension given what was observable at creation.

    The expectation runs over the customer's latent traits (drawn from their posterior given
    the customer's order stream, :mod:`simulator.traits`), the weather (its posterior as of
    creation) and all post-creation randomness: each replica re-runs the world's own delivery,
    returns and ticket code with fresh draws, then takes the outcomes' expectation given those
    (:func:`simulator.outcomes.expected_outcomes`: no noise from review scores, counts or
    spend) and maps it through :func:`features.labels.value_targets`, so a dimension means the
    same thing here as in training.

    Args:
        posteriors: (3, n, N_STATES) cumulative weather posteriors from :func:`slot_posteriors`.
        replicas: replicas per order.
        to_ts: hours → timestamp converter; ``start_us`` its origin.
        first_ticket_h: per customer, the hour of their first ticket (inf: none).

    Returns:
        Frame aligned with ``orders``: one column per dimension (``EXACT_DIMENSIONS`` left for
        the caller) and, per dimension, ``<dimension>__mc_var``.
    """
    n = len(plan.created)
    evidence = gather_evidence(orders, customers, first_ticket_h)
    mc_names = [d for d in DIMENSION_NAMES if d not in EXACT_DIMENSIONS]
    tally = _Tally(n, len(mc_names))
    focus = min(n, int(np.ceil(replicas.focus_share * n)))
    runs = [  # (orders, batches, replicas per batch)
        (slice(0, n - focus), 1, replicas.all_orders),
        (slice(n - focus, n), replicas.focus // replicas.batch, replicas.batch),
    ]
    for rows, n_batches, size in runs:
        if rows.stop <= rows.start:
            continue
        part_orders, part_plan = slice_orders(orders, rows), slice_plan(plan, rows)
        base = _base_orders(part_orders.frame)
        for _ in range(n_batches):
            draws = draw_traits(evidence.take(rows), size, rng)
            batch = np.zeros((rows.stop - rows.start, len(mc_names)))
            for r in range(size):
                values = _replica(
                    part_orders,
                    draws.customers(r, customers, orders.customer[rows]),
                    part_plan,
                    posteriors[:, rows],
                    base,
                    to_ts,
                    start_us,
                    rng,
                )[mc_names].to_numpy(np.float64)
                batch += values
                tally.replica(rows, values)
            tally.batch(rows, batch / size)
    mean, spread = tally.estimate()
    expected = pd.DataFrame(mean, columns=mc_names)
    for name in EXACT_DIMENSIONS:
        expected[name] = np.nan
    expected = expected[list(DIMENSION_NAMES)]
    # Variances need no float64 precision; float32 halves their share of the oracle's file.
    noise = pd.DataFrame(spread.astype(np.float32), columns=[m + MC_VAR_SUFFIX for m in mc_names])
    for name in EXACT_DIMENSIONS:
        noise[name + MC_VAR_SUFFIX] = np.float32(0.0)
    return pd.concat([expected, noise[[d + MC_VAR_SUFFIX for d in DIMENSION_NAMES]]], axis=1)


class _Tally:
    """Running sums of each order's batch means (and, for orders with one batch, of its
    replicas) for the oracle's estimate and its Monte Carlo variance."""

    def __init__(self, n: int, width: int) -> None:
        self.batch_sum = np.zeros((n, width))
        self.batch_squares = np.zeros((n, width))
        self.batches = np.zeros(n)
        self.replica_sum = np.zeros((n, width))
        self.replica_squares = np.zeros((n, width))
        self.replicas = np.zeros(n)

    def replica(self, rows: slice, values: np.ndarray) -> None:
        self.replica_sum[rows] += values
        self.replica_squares[rows] += values**2
        self.replicas[rows] += 1

    def batch(self, rows: slice, means: np.ndarray) -> None:
        self.batch_sum[rows] += means
        self.batch_squares[rows] += means**2
        self.batches[rows] += 1

    def estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """Each order's estimate (the mean of its batch means) and its variance: the batch
        means' spread over their number; with one batch, the replicas' spread over theirs (an
        over-estimate: stratified replicas vary less than independent ones)."""
        k = self.batches[:, None]
        mean = self.batch_sum / k
        r = self.replicas[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            between = np.maximum(self.batch_squares - k * mean**2, 0.0) / (k - 1) / k
            replica_mean = self.replica_sum / r
            within = np.maximum(self.replica_squares - r * replica_mean**2, 0.0) / (r - 1) / r
        return mean, np.where(k >= 2, between, within)


def _replica(
    orders: OrderDraw,
    customers: Customers,
    plan: dl.Plan,
    posteriors: np.ndarray,
    base: pd.DataFrame,
    to_ts,
    start_us: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One replica: each dimension's expectation given this replica's traits, weather, delivery,
    returns and tickets (one row per order; ``customers`` has one entry per order)."""
    n = len(plan.created)
    orders = replace(orders, customer=np.arange(n))
    states = sample_states(posteriors, 1, rng)[0]
    timeline = dl.realise(plan, dl.draw_shocks(plan, states, rng), events=False)
    returns = draw_returns(orders, customers, timeline, rng)
    intents = intent_events(
        orders, customers, plan, timeline, returns.returned, returns.exchanged, rng
    )
    minutes = service_minutes(intents, orders, customers)
    n_intents = np.bincount(intents.order, minlength=n)
    columns = expected_outcomes(orders, customers, plan, timeline, returns, minutes, n_intents)
    outcomes = pd.DataFrame(
        {
            "order_id": np.arange(n),
            **{
                name: to_ts(values, start_us) if name in _TIMES else values
                for name, values in columns.items()
                if name not in ("p_repeat", "settled_at", "notified_before_delay")
            },
        }
    )
    targets = value_targets(base, outcomes)
    # Two dimensions are indicators: their expectation is a chance, not the indicator of an
    # expected count.
    targets["repeat_purchase_90d"] = columns["p_repeat"]
    targets["exchange_avoidance"] = (1 - returns.p_return) * (1 - returns.p_exchange)
    return targets


def _base_orders(frame: pd.DataFrame) -> pd.DataFrame:
    """The order columns :func:`value_targets` reads, keyed by position (as the replicas'
    outcomes are)."""
    columns = ("created_at", "promised_at", "order_value", "discount", "cogs", "freight_cost")
    base = frame[list(columns)].reset_index(drop=True)
    base.insert(0, "order_id", np.arange(len(frame)))
    return base


def slice_orders(orders: OrderDraw, rows: slice) -> OrderDraw:
    """The order stream of a contiguous block of orders."""
    fields = {}
    for name, value in vars(orders).items():
        if isinstance(value, pd.DataFrame):
            fields[name] = value.iloc[rows].reset_index(drop=True)
        elif isinstance(value, np.ndarray):
            fields[name] = value[rows]
        else:
            fields[name] = value
    return OrderDraw(**fields)


def slice_plan(plan: dl.Plan, rows: slice) -> dl.Plan:
    """The plan of a contiguous block of orders (2-D slot arrays are sliced on their order
    axis)."""
    fields = {}
    for name, value in vars(plan).items():
        fields[name] = value[:, rows] if value.ndim == 2 else value[rows]
    return dl.Plan(**fields)
