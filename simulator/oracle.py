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

*Value dimensions* are the expectation of :func:`features.labels.value_targets` over
``replicas`` replicas of all post-creation randomness, re-running the world's own delivery,
ticket and outcome code. They condition on the latent customer traits too (the customer exists before the order),
so they bound what any model could reach. ``on_time_delivery`` and ``first_attempt_success`` are
exact (``1 - p_late`` and ``1 - p_fail``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from features.labels import value_targets
from orderlens.dimensions import DIMENSION_NAMES
from simulator import delivery as dl
from simulator import weather as wx
from simulator.orders import Customers, OrderDraw
from simulator.outcomes import draw_returns, finish_outcomes
from simulator.tickets import intent_events, service_minutes

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


NONLINEAR_DIMENSIONS = ("promotion_efficiency", "repeat_purchase_90d", "exchange_avoidance")
"""Dimensions that are not affine in the outcome columns: averaged replica by replica."""
EXACT_DIMENSIONS = ("on_time_delivery", "first_attempt_success")
"""Dimensions the world sets from exact probabilities (``1 - p_late``, ``1 - p_fail``)."""
_TIMES = ("delivered_at", "cash_collected_at", "settled_at")
_NONLINEAR_INPUTS = (
    "delivered_at", "refunded_amount", "packing_cost", "expedite_cost", "compensation_cost",
    "repeat_orders_90d", "returned", "exchanged",
)  # fmt: skip


def value_oracle(
    orders: OrderDraw,
    customers: Customers,
    plan: dl.Plan,
    posteriors: np.ndarray,
    n_replicas: int,
    to_ts,
    start_us: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Expected value of each dimension's realised target over replicas of the post-creation
    world.

    Most targets are affine in the outcome columns, so their expectation is
    :func:`value_targets` of the replica-averaged outcomes (one call, no Monte Carlo noise from
    the averaging itself); the few that are not (ratios, indicators) are averaged replica by
    replica. Both go through :func:`value_targets`, so a dimension means the same thing here as
    in training.

    Args:
        posteriors: (3, n, N_STATES) cumulative weather posteriors from :func:`slot_posteriors`.
        n_replicas: replicas to average.
        to_ts: hours → timestamp converter; ``start_us`` its origin.

    Returns:
        Frame aligned with ``orders`` with one column per dimension (``EXACT_DIMENSIONS`` are
        left for the caller to set).
    """
    n = len(plan.created)
    frame = orders.frame
    base_orders = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "created_at": frame["created_at"].reset_index(drop=True),
            "promised_at": frame["promised_at"].reset_index(drop=True),
            **{c: frame[c].to_numpy() for c in ("order_value", "discount", "cogs", "freight_cost")},
        }
    )
    sums: dict[str, np.ndarray] = {}
    nonlinear = np.zeros((n, len(NONLINEAR_DIMENSIONS)))
    for _ in range(n_replicas):
        states = sample_states(posteriors, 1, rng)[0]
        timeline = dl.realise(plan, dl.draw_shocks(plan, states, rng), events=False)
        returns = draw_returns(orders, customers, timeline, rng)
        intents = intent_events(
            orders, customers, plan, timeline, returns.returned, returns.exchanged, rng
        )
        minutes = service_minutes(intents, orders, customers)
        n_intents = np.bincount(intents.order, minlength=n)
        columns = finish_outcomes(
            orders, customers, plan, timeline, returns, minutes, n_intents, rng, review_all=True
        )
        for name, values in columns.items():
            sums[name] = sums.get(name, 0.0) + np.asarray(values, dtype=float)
        replica = pd.DataFrame(
            {
                "order_id": np.arange(n),
                **{
                    name: to_ts(columns[name], start_us) if name in _TIMES else columns[name]
                    for name in _NONLINEAR_INPUTS
                },
            }
        )
        targets = value_targets(base_orders, replica).sort_values("order_id")
        nonlinear += targets[list(NONLINEAR_DIMENSIONS)].to_numpy(dtype=float)
    mean_outcomes = pd.DataFrame(
        {
            "order_id": np.arange(n),
            **{
                name: to_ts(total / n_replicas, start_us) if name in _TIMES else total / n_replicas
                for name, total in sums.items()
            },
        }
    )
    expected = value_targets(base_orders, mean_outcomes).sort_values("order_id")
    expected = expected[list(DIMENSION_NAMES)].reset_index(drop=True)
    expected[list(NONLINEAR_DIMENSIONS)] = nonlinear / n_replicas
    expected[list(EXACT_DIMENSIONS)] = np.nan
    return expected
