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

*Value dimensions* are the mean of :func:`features.labels.value_targets` over ``replicas``
replicas of all post-creation randomness, re-running the world's own delivery, ticket and outcome
code. They condition on the latent customer traits too (the customer exists before the order),
so they bound what any model could reach. ``on_time_delivery`` and ``first_attempt_success`` are
exact (``1 - p_late`` and ``1 - p_fail``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from features.labels import value_targets
from features.synthetic import delivery as dl
from features.synthetic import weather as wx
from features.synthetic.orders import Customers, OrderDraw
from features.synthetic.outcomes import draw_returns, finish_outcomes
from features.synthetic.tickets import intent_events, service_minutes
from orderlens.dimensions import DIMENSION_NAMES

CHUNK = 200_000


def sample_slot_states(
    weather: wx.WeatherWorld, plan: dl.Plan, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Weather states at the plan's three slots drawn from the posterior as of creation.

    Returns:
        int8 array (n_samples, 3, n_orders).
    """
    n = len(plan.created)
    out = np.empty((n_samples, 3, n), dtype=np.int8)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        for slot in range(3):
            post = weather.posterior_states(
                plan.slot_city[slot, lo:hi], plan.slot_day[slot, lo:hi], plan.created[lo:hi]
            )
            cum = np.cumsum(post, axis=1, dtype=np.float32)
            u = rng.random((n_samples, hi - lo, 1), dtype=np.float32)
            out[:, slot, lo:hi] = (u > cum[None]).sum(axis=2).clip(0, wx.N_STATES - 1)
    return out


def delay_oracle(
    plan: dl.Plan, states: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(late) and E[hours late, 0 when on time] per order, given sampled slot states.

    Args:
        states: (n_samples, 3, n) weather states from :func:`sample_slot_states`.
    """
    holds = (wx.STATE_HOURS[states] * dl.SLOT_WEIGHT[None, :, None]).sum(axis=1)  # (S, n)
    base = plan.base[None, :] + holds
    window = plan.window[None, :]
    sigma = plan.sigma[None, :]
    log_window = np.log(window)
    growth = np.exp(sigma**2 / 2)
    p_inc = plan.p_incident[None, :]
    p_fail = plan.p_fail[None, :]
    redelivery = (dl.REDELIVERY_GAP_H + plan.last_mile)[None, :]
    p_late = np.zeros(base.shape)
    hours = np.zeros(base.shape)
    incident_weights = [1 - p_inc] + [p_inc * share for share in dl.INCIDENT_SHARES]
    for inc_hours, w_inc in zip(dl.INCIDENT_HOURS, incident_weights, strict=True):
        for failed, w_fail in ((0.0, 1 - p_fail), (1.0, p_fail)):
            b = base + inc_hours + failed * redelivery
            z = (np.log(b) - log_window) / sigma
            w = w_inc * w_fail
            p_late += w * ndtr(z)
            hours += w * (b * growth * ndtr(z + sigma) - window * ndtr(z))
    return p_late.mean(axis=0), np.maximum(hours.mean(axis=0), 0.0)


def value_oracle(
    orders: OrderDraw,
    customers: Customers,
    plan: dl.Plan,
    weather: wx.WeatherWorld,
    n_replicas: int,
    to_ts,
    start_us: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Mean of each dimension's realised target over replicas of the post-creation world.

    Returns:
        Frame aligned with ``orders`` with one column per dimension.
    """
    n = len(plan.created)
    frame = orders.frame
    base_orders = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "created_at": frame["created_at"].to_numpy(),
            "promised_at": frame["promised_at"].to_numpy(),
            **{c: frame[c].to_numpy() for c in ("order_value", "discount", "cogs", "freight_cost")},
        }
    )
    sums = np.zeros((n, len(DIMENSION_NAMES)))
    counts = np.zeros((n, len(DIMENSION_NAMES)))
    for _ in range(n_replicas):
        states = sample_slot_states(weather, plan, 1, rng)[0]
        shocks = dl.draw_shocks(plan, states, rng)
        timeline = dl.realise(plan, shocks)
        returns = draw_returns(orders, customers, timeline, rng)
        events = intent_events(
            orders, customers, plan, timeline, returns.returned, returns.exchanged, rng
        )
        minutes = service_minutes(events, orders, customers)
        n_intents = np.bincount(events.order, minlength=n)
        columns = finish_outcomes(
            orders, customers, plan, timeline, returns, minutes, n_intents, rng, review_all=True
        )
        outcomes = pd.DataFrame({"order_id": np.arange(n)})
        for name, values in columns.items():
            if name in ("delivered_at", "cash_collected_at", "settled_at"):
                outcomes[name] = to_ts(values, start_us)
            elif name != "spend_180d_before":
                outcomes[name] = values
        outcomes["spend_180d_before"] = orders.spend_180d_before
        targets = value_targets(base_orders, outcomes).sort_values("order_id")
        values = targets[list(DIMENSION_NAMES)].to_numpy(dtype=float)
        finite = np.isfinite(values)
        sums += np.where(finite, values, 0.0)
        counts += finite
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return pd.DataFrame(mean, columns=list(DIMENSION_NAMES))
